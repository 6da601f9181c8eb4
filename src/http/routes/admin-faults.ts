// Fault injection at run time, for tests, benchmarks and operators rehearsing failures
// (devices/faults.ts). Registered only when config.faults.allow is true (otherwise these paths
// are 404 like any unknown route), and behind the admin key when auth.adminKeys is non-empty.
//   GET    /admin/faults           the lasting faults of every device
//   POST   /admin/faults           {device, mode, delayMs?, count?} → injects it
//   DELETE /admin/faults/:device   clears the device's lasting faults (slow, fail-start)
import type { FastifyInstance } from 'fastify'
import { Value } from '@sinclair/typebox/value'
import type { Config } from '../../config/schema.js'
import type { Device } from '../../devices/device.js'
import type { DeviceSet } from '../../devices/device-set.js'
import { FaultInjectionSchema, faultProblem, type FaultInjection } from '../../devices/faults.js'
import { InvalidFault, UnknownDevice } from '../../errors.js'
import { clip } from '../../util/format.js'
import { requireAdminKey } from '../admin-key.js'

export interface AdminFaultRouteOptions {
  config: Pick<Config, 'auth'>
  devices: DeviceSet
}

function state (d: Device): { device: string, isolation: 'thread' | 'process', healthy: boolean, slowMs: number, failStarts: number } {
  return { device: d.id, isolation: d.isolation, healthy: d.scheduler.healthy, ...d.faults }
}

export async function adminFaultRoutes (app: FastifyInstance, opts: AdminFaultRouteOptions): Promise<void> {
  const { devices } = opts
  requireAdminKey(app, opts.config, { open: true })
  // our own JSON parsing in this context: a malformed body is a bad fault (400), not a 415
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string))
    } catch (err) {
      done(new InvalidFault(`the body is not JSON: ${(err as Error).message}`), undefined)
    }
  })

  const find = (id: string): Device => {
    const d = devices.get(id)
    if (d === undefined) throw new UnknownDevice(clip(id))
    return d
  }

  app.get('/admin/faults', { schema: { hide: true } }, async () => ({ devices: devices.devices.map(state) }))

  app.post('/admin/faults', { schema: { hide: true } }, async (request) => {
    const body = request.body
    if (!Value.Check(FaultInjectionSchema, body)) {
      const first = Value.Errors(FaultInjectionSchema, body).First()
      throw new InvalidFault(first ? `${first.path || 'body'}: ${first.message}` : 'a JSON object {device, mode, delayMs?, count?} is expected')
    }
    const fault: FaultInjection = body
    const device = find(fault.device)
    const problem = faultProblem(fault, device.isolation)
    if (problem !== null) throw new InvalidFault(problem)
    device.injectFault({ mode: fault.mode, ...(fault.delayMs !== undefined ? { delayMs: fault.delayMs } : {}), ...(fault.count !== undefined ? { count: fault.count } : {}) })
    request.log.warn({ device: device.id, fault }, 'fault injected')
    return { injected: fault, ...state(device) }
  })

  app.delete<{ Params: { device: string } }>('/admin/faults/:device', { schema: { hide: true } }, async (request) => {
    const device = find(request.params.device)
    device.clearFaults()
    request.log.warn({ device: device.id }, 'faults cleared')
    return state(device)
  })
}
