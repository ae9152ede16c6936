import { subsystemLogger } from '@atsuite/common'

export const httpLogger = subsystemLogger('pds:http')
export const repoLogger = subsystemLogger('pds:repo')
export const accountLogger = subsystemLogger('pds:account')
export const blobLogger = subsystemLogger('pds:blob')
export const seqLogger = subsystemLogger('pds:sequencer')
export const proxyLogger = subsystemLogger('pds:proxy')
export const readAfterWriteLogger = subsystemLogger('pds:read-after-write')
export const oauthLogger = subsystemLogger('pds:oauth')
