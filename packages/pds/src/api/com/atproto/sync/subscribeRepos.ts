import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Router } from 'express'
import { WebSocketServer } from 'ws'
import type { AppContext } from '../../../../context.ts'
import { Outbox } from '../../../../sequencer/outbox.ts'
import { encodeErrorFrame } from '../../../../sequencer/events.ts'

const PATH = '/xrpc/com.atproto.sync.subscribeRepos'

/**
 * com.atproto.sync.subscribeRepos over our own WebSocket handling (frames are
 * encoded once by the sequencer and shared by all subscribers). Returns the
 * HTTP upgrade handler; a plain GET without Upgrade gets a 426 from `httpRoute`.
 */
export const subscribeReposUpgrade = (ctx: AppContext) => {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
  const handle = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== PATH) return false
    wss.handleUpgrade(req, socket, head, (ws) => {
      const raw = url.searchParams.get('cursor')
      let cursor: number | undefined
      if (raw !== null && raw !== '') {
        cursor = Number(raw)
        if (!Number.isSafeInteger(cursor) || cursor < 0) {
          ws.send(encodeErrorFrame('InvalidRequest', 'cursor must be a non-negative integer'), { binary: true })
          ws.close(1008, 'InvalidRequest')
          return
        }
      }
      const outbox = new Outbox(ws, ctx.sequencer, ctx.cfg.firehose.maxBufferBytes)
      void outbox.run(cursor).catch(() => ws.terminate())
    })
    return true
  }
  const close = () => {
    for (const ws of wss.clients) ws.terminate()
    wss.close()
  }
  return { handle, close }
}

export const subscribeReposHttpRoute = (router: Router): void => {
  router.get(PATH, (_req, res) => {
    res.status(426).json({
      error: 'InvalidRequest',
      message: 'subscribeRepos is a WebSocket endpoint: connect with Upgrade: websocket',
    })
  })
}
