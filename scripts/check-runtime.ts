// Fails early, with a clear message, when the Node running the project is too
// old or the native SQLite addon was built for another Node.
import { createRequire } from 'node:module'

const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(
    `Node ${process.versions.node} is too old: this project needs Node >= 22 ` +
      `(npm install brings Node 24 on Linux x64 as node_modules/.bin/node).`,
  )
  process.exit(1)
}
try {
  const require = createRequire(import.meta.url)
  const Database = require('better-sqlite3')
  new Database(':memory:').close()
} catch (err) {
  console.error(
    `better-sqlite3 does not load on Node ${process.versions.node}: ${(err as Error).message}\n` +
      `Rebuild it for this Node with: npm rebuild better-sqlite3`,
  )
  process.exit(1)
}
