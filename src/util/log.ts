// The logger shape Switchyard's parts accept: pino's (what Fastify's app.log is), reduced to
// what they call. Tests and the simulator pass their own.
export interface Log {
  warn: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
}
