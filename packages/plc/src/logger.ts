import { subsystemLogger } from '@atsuite/common'

export const plcLogger = subsystemLogger('plc')
export const httpLogger = subsystemLogger('plc:http')
