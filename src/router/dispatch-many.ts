// Several images of one request (the tiles of a tiled /detect) sent to the devices as one
// request (Dispatcher.dispatchMany: placed by the predicted finish of all of them, admitted
// counting every image), and a report of what ran where, in which batches.
//
// Every image settles before the call does, failed or not, so no tile of a refused request is
// still running once the client has its answer; the first error is rethrown.
import type { ItemParams, PreparedImage } from '../core/items.js'
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
  return reportMany(await dispatcher.dispatchMany(model, [...images], params, opts, prepareAgain))
}

/** What ran where, in which batches, from the answers of one request's images (in the order given). */
export function reportMany (items: Dispatched[]): DispatchedMany {
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
