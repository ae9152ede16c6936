/**
 * PDS_PUBLIC_URL is also the OAuth issuer, whose provider loads only at its
 * first request: a public URL the provider would refuse is refused at start.
 */
import { ConfigError } from '@atsuite/common'
import { envToConfig } from '../src/config.ts'

const config = (env: Record<string, string>) => envToConfig({ PDS_HOSTNAME: 'pds.example.com', ...env })

test('the public URL defaults to https on the hostname, http on localhost', () => {
  expect(config({}).service.publicUrl).toBe('https://pds.example.com')
  expect(envToConfig({ PDS_HOSTNAME: 'localhost', PDS_PORT: '2999' }).service.publicUrl).toBe('http://localhost:2999')
})

test.each([
  'https://pds.example.com',
  'https://pds.example.com:8443',
  'http://localhost:2583',
  'http://127.0.0.1:2583',
  'http://[::1]:2583',
])('accepted: %s', (url) => {
  expect(config({ PDS_PUBLIC_URL: url }).service.publicUrl).toBe(url)
})

test.each([
  ['https://pds.example.com/', /origin alone, as https:\/\/pds\.example\.com/],
  ['https://pds.example.com/pds', /origin alone/],
  ['https://pds.example.com?x=1', /origin alone/],
  ['https://user:pw@pds.example.com', /origin alone/],
  ['HTTPS://PDS.example.com', /origin alone, as https:\/\/pds\.example\.com/],
  ['http://pds.example.com', /must be https outside a loopback host/],
  ['https://localhost:2583', /on a loopback host must be http/],
  ['ftp://pds.example.com', /must be an http\(s\) URL/],
  ['pds.example.com', /is not a URL/],
])('refused: %s', (url, message) => {
  expect(() => config({ PDS_PUBLIC_URL: url })).toThrow(ConfigError)
  expect(() => config({ PDS_PUBLIC_URL: url })).toThrow(message)
})
