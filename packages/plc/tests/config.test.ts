import path from 'node:path'
import { ConfigError } from '@atsuite/common'
import { envToConfig, readEnv } from '../src/config.ts'

test('defaults', () => {
  expect(envToConfig(readEnv({}))).toEqual({
    port: 2582,
    host: '127.0.0.1',
    dbLocation: path.join('./data/plc', 'plc.sqlite'),
  })
})

test('PLC_ variables, empty ones count as unset', () => {
  const cfg = envToConfig(readEnv({ PLC_PORT: '0', PLC_HOST: '', PLC_DATA_DIRECTORY: '/srv/plc' }))
  expect(cfg).toEqual({ port: 0, host: '127.0.0.1', dbLocation: '/srv/plc/plc.sqlite' })
  expect(envToConfig(readEnv({ PLC_DATA_DIRECTORY: '/srv/plc', PLC_DB_LOCATION: ':memory:' })).dbLocation).toBe(
    ':memory:',
  )
})

test('invalid port', () => {
  expect(() => envToConfig(readEnv({ PLC_PORT: 'abc' }))).toThrow(ConfigError)
  expect(() => envToConfig(readEnv({ PLC_PORT: '70000' }))).toThrow(ConfigError)
})
