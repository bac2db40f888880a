import { once } from 'node:events'
import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { afterEach, describe, expect, it } from 'vitest'
import { connectClient, startBroker } from './support.js'

/** Debian's chromium (scripts/install-test-deps.sh installs it): /usr/bin/chromium, else the first on PATH. */
function findChromium(): string | undefined {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)]
  for (const dir of dirs) {
    const file = join(dir, 'chromium')
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not here: the next directory
    }
  }
  if (process.env.CI === 'true') throw new Error('chromium is missing: run scripts/install-test-deps.sh')
  return undefined
}

const chromium = findChromium()

/** The test's output (git-ignored): a screenshot of the page at the end of the test, to look at after a run. */
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url))
const SCREENSHOT = `${OUTPUT}browser-websocket.png` as const

/** MQTT.js's browser bundle (an IIFE that defines the global `mqtt`). */
const MQTT_BUNDLE = readFileSync(createRequire(import.meta.url).resolve('mqtt/dist/mqtt.min'))

/**
 * The page: MQTT.js connects to the broker given as `?broker=`, subscribes to browser/hello and node/hello,
 * publishes to browser/hello once subscribed, and lists every message received as `topic: payload`.
 */
const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>MQTT.js over WebSocket</title></head>
<body>
<h1>MQTT.js in chromium, over ws:// to mqtt-stack</h1>
<p id="status">connecting</p>
<ul id="messages"></ul>
<script src="/mqtt.min.js"></script>
<script>
  const status = document.getElementById('status')
  const messages = document.getElementById('messages')
  const broker = new URLSearchParams(location.search).get('broker')
  const client = mqtt.connect(broker, { clientId: 'chromium', protocolVersion: 5, reconnectPeriod: 0 })
  client.on('error', (err) => { status.textContent = 'error: ' + err.message })
  client.on('close', () => { status.textContent += ' (closed)' })
  client.on('message', (topic, payload) => {
    const item = document.createElement('li')
    item.dataset.topic = topic
    item.textContent = topic + ': ' + payload.toString()
    messages.append(item)
  })
  client.on('connect', () => {
    status.textContent = 'connected'
    client.subscribe(['browser/hello', 'node/hello'], { qos: 1 }, (err) => {
      if (err) {
        status.textContent = 'subscribe failed: ' + err.message
      } else {
        status.textContent = 'subscribed'
        client.publish('browser/hello', 'hello from chromium', { qos: 1 })
      }
    })
  })
</script>
</body>
</html>
`

/** Serves PAGE at / and the MQTT.js bundle at /mqtt.min.js on a free port of 127.0.0.1. */
async function servePage(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/?') || req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
    } else if (req.url === '/mqtt.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(MQTT_BUNDLE)
    } else {
      res.writeHead(404).end()
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

describe.skipIf(chromium === undefined)(
  'MQTT.js in a real browser (chromium, puppeteer-core)',
  { timeout: 60_000 },
  () => {
    let browser: Browser | undefined
    let site: Server | undefined

    // Before support.ts's afterEach closes the broker and the node client.
    afterEach(async () => {
      const server = site
      site = undefined
      if (server) {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
      await browser?.close()
      browser = undefined
    })

    /** The item the page lists for `topic`; on a timeout, says what the page's status line shows. */
    async function shown(page: Page, topic: string): Promise<string | null> {
      const item = await page
        .waitForSelector(`li[data-topic="${topic}"]`, { timeout: 20_000 })
        .catch(async (err) => {
          const status = await page.$eval('#status', (el) => el.textContent).catch(() => '?')
          throw new Error(`the page shows no message on ${topic} (status: ${status})`, { cause: err })
        })
      return item!.evaluate((el) => el.textContent)
    }

    it('[MQTT-6.0.0-4] chromium gets the subprotocol "mqtt"; its MQTT.js relays to and from a node client', async () => {
      const { addresses, errors } = await startBroker({
        listeners: [
          { type: 'ws', port: 0, path: '/mqtt' },
          { type: 'mqtt', port: 0 },
        ],
      })
      const [ws, tcp] = addresses
      expect(ws!.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/)

      // The node side, over TCP: it hears what the browser publishes.
      const node = await connectClient(tcp!.url)
      await node.subscribeAsync('browser/hello', { qos: 1 })
      const fromBrowser = new Promise<string>((resolve) =>
        node.once('message', (topic, payload) => resolve(`${topic}: ${payload}`)),
      )

      const served = await servePage()
      site = served.server
      browser = await puppeteer.launch({
        executablePath: chromium!,
        headless: true,
        args: ['--no-sandbox'],
        pipe: true,
        timeout: 30_000,
      })
      const page = await browser.newPage()
      const pageErrors: unknown[] = []
      page.on('pageerror', (err) => pageErrors.push(err))
      const devtools = await page.createCDPSession()
      await devtools.send('Network.enable')
      const handshake = new Promise<Record<string, string>>((resolve) =>
        devtools.once('Network.webSocketHandshakeResponseReceived', (event) =>
          resolve(event.response.headers),
        ),
      )

      await page.goto(`${served.url}/?broker=${encodeURIComponent(ws!.url)}`)

      // Subscribed, then published: the broker sends the browser's own message back to it, and to node.
      expect(await shown(page, 'browser/hello')).toBe('browser/hello: hello from chromium')
      expect(await fromBrowser).toBe('browser/hello: hello from chromium')
      // node/hello was subscribed in the same SUBSCRIBE, acknowledged before the browser published.
      await node.publishAsync('node/hello', 'hello from node', { qos: 1 })
      expect(await shown(page, 'node/hello')).toBe('node/hello: hello from node')

      const headers = await handshake
      const protocol = Object.entries(headers).find(
        ([name]) => name.toLowerCase() === 'sec-websocket-protocol',
      )
      expect(protocol?.[1]).toBe('mqtt')
      expect(await page.$eval('#status', (el) => el.textContent)).toBe('subscribed')
      expect(pageErrors).toEqual([])
      expect(errors).toEqual([])

      mkdirSync(OUTPUT, { recursive: true })
      rmSync(SCREENSHOT, { force: true })
      await page.screenshot({ path: SCREENSHOT })
      expect(statSync(SCREENSHOT).size).toBeGreaterThan(0)
    })
  },
)
