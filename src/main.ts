// `npm start`: load the config, build the server, listen, and shut down gracefully on
// SIGTERM/SIGINT (readiness flips first, in-flight requests finish, workers stop by message,
// exit 0; exit 1 if that takes longer than server.shutdownGraceMs).
import { buildServer } from './app.js'
import { loadConfig } from './config/load-config.js'
import { ConfigError } from './errors.js'

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchyard: ${err.message}\n`)
      process.exit(78) // EX_CONFIG
    }
    throw err
  }
  let server
  try {
    server = await buildServer(config)
  } catch (err) {
    process.stderr.write(`switchyard: startup failed: ${(err as Error).message}\n`)
    process.exit(1)
  }
  const { api, metrics, agent } = await server.listen()
  server.app.log.info({ api, metrics: metrics ?? `${api}/metrics`, ...(agent !== null ? { agent } : {}), devices: server.devices.devices.map((d) => d.id) }, 'switchyard listening')

  let signalled = false
  const shutdown = (signal: string): void => {
    if (signalled) return
    signalled = true
    server.app.log.info({ signal, graceMs: config.server.shutdownGraceMs }, 'shutting down')
    const timer = setTimeout(() => {
      server.app.log.error('shutdown grace period exceeded; exiting')
      process.exit(1)
    }, config.server.shutdownGraceMs)
    timer.unref()
    server.close().then(() => {
      server.app.log.info('shutdown complete')
      process.exit(0)
    }, (err: Error) => {
      server.app.log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
}

void main()
