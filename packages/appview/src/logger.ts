import { subsystemLogger } from '@atsuite/common'

export const httpLogger = subsystemLogger('appview:http')
export const appLogger = subsystemLogger('appview')
export const feedGenLogger = subsystemLogger('appview:feedgen')
