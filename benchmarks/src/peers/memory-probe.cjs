// Preloaded into the Node brokers under test (node --require): answers the benchmark's memory requests
// over the IPC channel the launcher opens, with process.memoryUsage() of the broker process. It adds no
// timer and no work until asked, and the channel does not keep the broker alive.
if (typeof process.send === 'function') {
  process.on('message', (message) => {
    if (message?.type !== 'mqtt-stack-bench:memory') return
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage()
    process.send({ type: 'mqtt-stack-bench:memory', id: message.id, rss, heapUsed, heapTotal, external })
  })
  process.channel?.unref()
}
