// The bare relay: a calibration peer, not a broker. It answers CONNECT and SUBSCRIBE minimally, parses
// QoS 0 PUBLISH with mqtt-packet, serialises each message once and writes the same buffer to every
// matching subscriber, corking each subscriber's socket for the duration of one incoming chunk. It shows
// how far a single Node process goes: for fan-in and fan-out, and in the storm, what a connection that
// connects and subscribes costs Node itself (its sockets, their memory and the syscalls).
//   node relay-server.mjs --port 0 --host 127.0.0.1
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'
import mqtt from 'mqtt-packet'

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } })
const host = values.host ?? '127.0.0.1'

/** filter -> sockets subscribed to it */
const subscriptions = new Map()
/** topic -> sockets matching it, rebuilt after any SUBSCRIBE or close */
let routes = new Map()

const CONNACK = mqtt.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false })
const PINGRESP = mqtt.generate({ cmd: 'pingresp' })

function matches(filter, topic) {
  if (filter === topic) return true
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

function route(topic) {
  let sockets = routes.get(topic)
  if (sockets) return sockets
  const found = new Set()
  for (const [filter, subscribers] of subscriptions) {
    if (matches(filter, topic)) for (const socket of subscribers) found.add(socket)
  }
  sockets = [...found]
  routes.set(topic, sockets)
  return sockets
}

const server = createServer((socket) => {
  socket.setNoDelay(true)
  const parser = mqtt.parser({ protocolVersion: 4 })
  const corked = []
  parser.on('packet', (packet) => {
    switch (packet.cmd) {
      case 'connect':
        socket.write(CONNACK)
        return
      case 'subscribe':
        for (const { topic } of packet.subscriptions) {
          let subscribers = subscriptions.get(topic)
          if (!subscribers) {
            subscribers = new Set()
            subscriptions.set(topic, subscribers)
          }
          subscribers.add(socket)
        }
        routes = new Map()
        socket.write(
          mqtt.generate({
            cmd: 'suback',
            messageId: packet.messageId,
            granted: packet.subscriptions.map(() => 0),
          }),
        )
        return
      case 'publish': {
        const out = mqtt.generate({ cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: 0 })
        for (const subscriber of route(packet.topic)) {
          if (!subscriber.writableCorked) {
            subscriber.cork()
            corked.push(subscriber)
          }
          subscriber.write(out)
        }
        if (packet.qos === 1) socket.write(mqtt.generate({ cmd: 'puback', messageId: packet.messageId }))
        return
      }
      case 'pingreq':
        socket.write(PINGRESP)
        return
      case 'disconnect':
        socket.end()
        return
    }
  })
  socket.on('data', (chunk) => {
    parser.parse(chunk)
    for (const subscriber of corked) subscriber.uncork()
    corked.length = 0
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    for (const subscribers of subscriptions.values()) subscribers.delete(socket)
    routes = new Map()
  })
})

server.listen(Number(values.port ?? 0), host, () => {
  console.log(`relay listening on mqtt://${host}:${server.address().port}`)
})
const stop = () => {
  server.close()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
