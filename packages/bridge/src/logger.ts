import { subsystemLogger } from '@atsuite/common'

export const bridgeLogger = subsystemLogger('bridge')
export const federationLogger = subsystemLogger('bridge:federation')
export const streamLogger = subsystemLogger('bridge:stream')
