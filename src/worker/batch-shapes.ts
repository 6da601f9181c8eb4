// The batch shapes a worker runs (devices[].batchShapes): the sizes calibration times, 1, 2, 4, …
// max batch, and with calibrated shapes the size a batch of n is padded to. Every worker runs each
// of those sizes before it takes traffic (worker-core.ts calibrate, tensor-model.ts
// calibrateTensors), so on CUDA no served batch is the first of its shape: a new shape has
// onnxruntime time every cuDNN convolution algorithm, seconds for a detector (docs/gpu.md). The
// rows past n hold whatever the input buffer held; their outputs are never read. The cost model
// learns a padded batch's time under its n items, as it is served.

/**
 * The batch size a batch of n runs at: n, or with calibrated shapes (devices[].batchShapes) the
 * next of 1, 2, 4, … max — the sizes every worker ran before it took traffic.
 */
export function paddedSize (n: number, maxBatchSize: number, calibratedShapes: boolean): number {
  if (!calibratedShapes) return n
  let m = 1
  while (m < n) m *= 2
  return Math.min(m, maxBatchSize)
}

/** The batch sizes calibration times, and the shapes a padded batch may run at: 1, 2, 4, … max batch. */
export function calibratedSizes (maxBatchSize: number): number[] {
  const sizes: number[] = []
  for (let n = 1; n < maxBatchSize; n *= 2) sizes.push(n)
  sizes.push(maxBatchSize)
  return sizes
}

