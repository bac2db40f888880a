import { runCli } from '@mqtt-stack/broker'

// `pnpm start [-- --config FILE | --port N ...]`: the `mqtt-stack` command of @mqtt-stack/broker.
await runCli(process.argv.slice(2))
