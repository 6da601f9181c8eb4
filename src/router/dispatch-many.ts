// Several images of one request (the tiles of a tiled /detect) sent to the devices, and what
// ran where. For now each image is dispatched on its own through Dispatcher.dispatch, all at
// once, so the router places them one by one and the devices batch them as they batch any
// queued items. The whole-request placement (the finish time of n items per device, splitting
// across devices) belongs to the router: this is the one call the route makes for it.
//
// Every image is awaited before the call settles, failed or not, so no tile of a refused
// request is still running once the client has its answer; the first error is rethrown.
import type { ItemParams, PreparedImage } from '../worker/protocol.js'
import type { Dispatched, DispatchOptions, Dispatcher } from './dispatcher.js'

export interface BatchReport {
  device: string
  /** images in the batch, this request's and others' */
  size: number
  /** this request's images in it */
  items: number
  inferenceMs: number
  postprocessMs: number
}

export interface DispatchedMany {
  /** one per image, in the order given */
  items: Dispatched[]
  /** images per device */
  devices: Record<string, number>
  /**
   * the batches that carried the images. Items report their batch's device, size and run
   * times, not an id, so images with all of these equal are counted as one batch.
   */
  batches: BatchReport[]
}

export async function dispatchMany (
  dispatcher: Dispatcher, model: string, images: readonly PreparedImage[], params: ItemParams,
  opts: DispatchOptions, prepareAgain: (index: number) => Promise<PreparedImage>
): Promise<DispatchedMany> {
  const settled = await Promise.allSettled(images.map((image, i) =>
    dispatcher.dispatch(model, image, params, opts, () => prepareAgain(i))))
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed) throw failed.reason
  const items = settled.map((s) => (s as PromiseFulfilledResult<Dispatched>).value)
  const devices: Record<string, number> = {}
  const batches = new Map<string, BatchReport>()
  for (const it of items) {
    devices[it.device] = (devices[it.device] ?? 0) + 1
    const key = `${it.device}|${it.batchSize}|${it.inferenceMs}|${it.postprocessMs}`
    const b = batches.get(key)
    if (b) b.items++
    else batches.set(key, { device: it.device, size: it.batchSize, items: 1, inferenceMs: it.inferenceMs, postprocessMs: it.postprocessMs })
  }
  return { items, devices, batches: [...batches.values()] }
}
