// One inference worker thread: owns an onnxruntime session per model on one device, turns
// prepared pixels into the input tensor, runs the batch and decodes the outputs. The main
// thread never calls session.run(): it blocks the JS thread for the whole inference.
//
// Lifecycle: init (workerData) → sessions created, warmed up, calibrated → 'ready'.
// 'run' messages are served one at a time. 'stop' finishes the current run, releases the
// sessions and exits; the main thread never terminate()s a worker that may be inside run()
// (onnxruntime-node aborts the whole process when that happens).
import { parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import * as ort from 'onnxruntime-node'
import { softmaxTopK } from '../postprocess/softmax-top-k.js'
import { decodeYolox } from '../postprocess/yolox-decode.js'
import { TensorLayout } from './tensor-layout.js'
import { calibrateTensors, executeTensors, openTensorModel, type LoadedTensorModel } from './tensor-model.js'
import type { ItemResult, MainToWorker, ModelFailure, ModelReport, RunMessage, TensorModel, WorkerInit, WorkerModel, WorkerToMain } from './protocol.js'

interface Loaded {
  model: WorkerModel
  session: ort.InferenceSession
  layout: TensorLayout
  /** input buffer for the largest batch, reused by every run */
  input: Float32Array
  maxBatchSize: number
}

const port = parentPort!
const init = workerData as WorkerInit
const loaded = new Map<string, Loaded>()
/** plain ONNX models (the model repository), by lane key */
const tensorLoaded = new Map<string, LoadedTensorModel>()
let pendingFault: 'exit' | 'throw' | null = null
let queue: Promise<void> = Promise.resolve()

function send (msg: WorkerToMain, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer)
}

async function createSession (model: Pick<WorkerModel, 'weightsPath'>): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: init.device.kind === 'cuda' ? [{ name: 'cuda', deviceId: init.device.deviceId }] : ['cpu'],
    graphOptimizationLevel: 'all'
  }
  if (init.device.intraOpThreads > 0) options.intraOpNumThreads = init.device.intraOpThreads
  return ort.InferenceSession.create(model.weightsPath, options)
}

const PROVIDER_UNAVAILABLE = /Failed to load shared library|providers_cuda|cudaError|CUDA (driver|runtime)/i

/** Loads every model; one that fails is reported, unless the device itself is unusable. */
async function load (): Promise<{ models: ModelReport[], failures: ModelFailure[] }> {
  const reports: ModelReport[] = []
  const failures: ModelFailure[] = []
  for (const model of init.models) {
    try {
      reports.push(await loadOne(model))
    } catch (err) {
      const message = (err as Error).message
      if (PROVIDER_UNAVAILABLE.test(message)) throw err
      failures.push({ name: model.name, message })
    }
  }
  // a replacement worker loads the plain models added at run time too (warmed, not calibrated)
  for (const model of init.tensorModels ?? []) {
    try {
      await loadTensorModel(model, 0)
    } catch (err) {
      failures.push({ name: model.name, message: (err as Error).message })
    }
  }
  return { models: reports, failures }
}

/** A plain ONNX model added at run time: session, checks, warm-up (its first run), calibration. */
async function loadTensorModel (model: TensorModel, calibrationRuns: number): Promise<ModelReport> {
  const t0 = performance.now()
  const session = await createSession(model)
  const t1 = performance.now()
  let entry: LoadedTensorModel
  let calibration: ModelReport['calibration']
  try {
    entry = openTensorModel(model, session)
    calibration = await calibrateTensors(entry, calibrationRuns)
  } catch (err) {
    await session.release()
    throw err
  }
  const old = tensorLoaded.get(model.name)
  tensorLoaded.set(model.name, entry)
  if (old) await old.session.release()
  const first = entry.inputs[0]!.spec
  return {
    name: model.name,
    inputShape: first.shape,
    outputShape: entry.outputs[0]?.shape ?? [],
    dynamicBatch: entry.dynamicBatch,
    maxBatchSize: entry.maxBatchSize,
    calibration,
    tensors: { inputs: entry.inputs.map((i) => i.spec), outputs: entry.outputs },
    loadMs: { session: t1 - t0, calibration: performance.now() - t1 }
  }
}

async function unloadTensorModel (name: string): Promise<void> {
  const entry = tensorLoaded.get(name)
  tensorLoaded.delete(name)
  if (entry) await entry.session.release()
}

async function loadOne (model: WorkerModel): Promise<ModelReport> {
  {
    const session = await createSession(model)
    const meta = session.inputMetadata.find((m) => m.name === model.input.name)
    if (!meta || !meta.isTensor) throw new Error(`model ${model.name} has no tensor input named ${model.input.name} (inputs: ${session.inputNames.join(', ')})`)
    const dynamicBatch = typeof meta.shape[0] !== 'number'
    const maxBatchSize = dynamicBatch ? model.maxBatchSize : Math.min(model.maxBatchSize, Number(meta.shape[0]) || 1)
    const layout = new TensorLayout(model.input, model.preprocess)
    const entry: Loaded = { model, session, layout, input: new Float32Array(maxBatchSize * 3 * layout.plane), maxBatchSize }
    loaded.set(model.name, entry)
    const outputShape = (session.outputMetadata.find((m) => m.name === model.output.name && m.isTensor) as { shape?: Array<number | string> } | undefined)?.shape ?? []
    return { name: model.name, inputShape: meta.shape as Array<number | string>, outputShape, dynamicBatch, maxBatchSize, calibration: await calibrate(entry) }
  }
}

/**
 * Warm-up, then the median time of `calibrationRuns` batches for n = 1, 2, 4, … max batch.
 * Each timed batch goes through exactly what a served batch does — tensor layout, run, output
 * decoding (execute()) — on blank images of the model's input size, so the cost model is seeded
 * with the same quantity it is refitted on (the worker time the 'result' message reports).
 */
async function calibrate (entry: Loaded): Promise<ModelReport['calibration']> {
  const { width, height } = entry.model.input
  const blank = { pixels: new Uint8Array(width * height * 3), width, height, originalWidth: width, originalHeight: height }
  const items: RunMessage['items'] = Array.from({ length: entry.maxBatchSize }, () => ({ image: blank, params: {} }))
  await execute(entry, items.slice(0, 1)) // the first run allocates and (on CUDA) picks kernels
  if (init.calibrationRuns === 0) return []
  const sizes: number[] = []
  for (let n = 1; n < entry.maxBatchSize; n *= 2) sizes.push(n)
  sizes.push(entry.maxBatchSize)
  const out: ModelReport['calibration'] = []
  for (const n of sizes) {
    const batch = items.slice(0, n)
    await execute(entry, batch)
    const times: number[] = []
    for (let i = 0; i < init.calibrationRuns; i++) {
      const r = await execute(entry, batch)
      times.push(r.prepMs + r.runMs + r.postMs)
    }
    times.sort((a, b) => a - b)
    out.push({ batchSize: n, ms: times[Math.floor(times.length / 2)]! })
  }
  return out
}

async function runSession (entry: Loaded, n: number): Promise<ort.InferenceSession.OnnxValueMapType> {
  const { layout, model } = entry
  const data = entry.input.subarray(0, n * 3 * layout.plane)
  const tensor = new ort.Tensor('float32', data, [n, 3, layout.height, layout.width])
  return entry.session.run({ [model.input.name]: tensor })
}

interface Executed { results: ItemResult[], prepMs: number, runMs: number, postMs: number }

/** One batch, as served and as calibrated: tensor layout → session.run → output decoding. */
async function execute (entry: Loaded, items: RunMessage['items']): Promise<Executed> {
  const n = items.length
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const image = items[i]!.image
    if (image.tensor === true) copyTensor(entry, image.pixels, i)
    else entry.layout.write(image, entry.input, i)
  }
  const t1 = performance.now()
  const outputs = await runSession(entry, n)
  const t2 = performance.now()
  const output = outputs[entry.model.output.name]
  if (!output) throw new Error(`model ${entry.model.name} has no output named ${entry.model.output.name}`)
  const results = decode(entry, output, items)
  for (const t of Object.values(outputs)) t.dispose()
  return { results, prepMs: t1 - t0, runMs: t2 - t1, postMs: performance.now() - t2 }
}

async function runBatch (msg: RunMessage): Promise<void> {
  const plain = tensorLoaded.get(msg.model)
  const entry = loaded.get(msg.model)
  if (!entry && !plain) throw new Error(`model ${msg.model} is not loaded in this worker`)
  const n = msg.items.length
  const maxBatchSize = (entry ?? plain)!.maxBatchSize
  if (n > maxBatchSize) throw new Error(`batch of ${n} exceeds ${msg.model}'s max batch ${maxBatchSize}`)
  if (pendingFault !== null) {
    const fault = pendingFault
    pendingFault = null
    if (fault === 'exit') process.exit(70) // a worker dying mid-batch, as a native fault would
    throw new Error('injected fault: run failed')
  }
  const r = entry ? await execute(entry, msg.items) : await executeTensors(plain!, msg.items)
  const transfer = r.results.flatMap((x) => x.kind === 'tensors' ? x.outputs.map((o) => o.data.buffer as ArrayBuffer) : x.raw ? [x.raw.data.buffer as ArrayBuffer] : [])
  send({ type: 'result', batchId: msg.batchId, ...r }, transfer)
}

/** A ready input tensor (one item's float32 bytes), copied byte for byte: no alignment needed. */
function copyTensor (entry: Loaded, bytes: Uint8Array, index: number): void {
  const size = 3 * entry.layout.plane * 4
  if (bytes.byteLength !== size) throw new Error(`tensor item of ${bytes.byteLength} bytes, expected ${size}`)
  new Uint8Array(entry.input.buffer, entry.input.byteOffset + index * size, size).set(bytes)
}

function decode (entry: Loaded, output: ort.Tensor, items: RunMessage['items']): ItemResult[] {
  const data = output.data as Float32Array
  const n = items.length
  const per = data.length / n
  const spec = entry.model.output.decode
  const results: ItemResult[] = []
  for (let i = 0; i < n; i++) {
    const { image, params } = items[i]!
    const slice = data.subarray(i * per, (i + 1) * per)
    // a copy only when asked for (the Open Inference Protocol's raw outputs)
    const raw = params.rawOutput === true ? { raw: { data: slice.slice(), shape: [1, ...output.dims.slice(1).map(Number)] } } : {}
    if (spec.kind === 'softmax') {
      results.push({ kind: 'classify', predictions: softmaxTopK(slice, entry.model.labels, params.topK ?? spec.topK), ...raw })
    } else {
      const { layout } = entry
      const { left, top } = layout.offset(image)
      const rowLen = Number(output.dims[output.dims.length - 1])
      const detections = decodeYolox(slice, rowLen, {
        inputWidth: layout.width,
        inputHeight: layout.height,
        strides: spec.strides,
        ratio: Math.min(layout.width / image.originalWidth, layout.height / image.originalHeight),
        left,
        top,
        originalWidth: image.originalWidth,
        originalHeight: image.originalHeight
      }, entry.model.labels, params.scoreThreshold ?? spec.scoreThreshold, params.iouThreshold ?? spec.iouThreshold, spec.maxDetections)
      results.push({ kind: 'detect', width: image.originalWidth, height: image.originalHeight, detections, ...raw })
    }
  }
  return results
}

async function stop (): Promise<void> {
  for (const { session } of loaded.values()) await session.release()
  for (const { session } of tensorLoaded.values()) await session.release()
  loaded.clear()
  tensorLoaded.clear()
  port.close()
}

port.on('message', (msg: MainToWorker) => {
  if (msg.type === 'fault') {
    if (init.allowFaults) pendingFault = msg.mode
    return
  }
  // one message at a time, in order: a 'stop' waits for the run before it
  queue = queue.then(async () => {
    if (msg.type === 'stop') return stop()
    if (msg.type === 'load-model') {
      try {
        send({ type: 'model-loaded', requestId: msg.requestId, report: await loadTensorModel(msg.model, msg.calibrationRuns) })
      } catch (err) {
        send({ type: 'model-error', requestId: msg.requestId, message: (err as Error).message })
      }
      return
    }
    if (msg.type === 'unload-model') {
      await unloadTensorModel(msg.name)
      send({ type: 'model-unloaded', requestId: msg.requestId })
      return
    }
    try {
      await runBatch(msg)
    } catch (err) {
      send({ type: 'batch-error', batchId: msg.batchId, message: (err as Error).message })
    }
  })
})

load().then(
  ({ models, failures }) => send({ type: 'ready', models, failures }),
  (err: Error) => send({ type: 'init-error', message: err.message, providerUnavailable: PROVIDER_UNAVAILABLE.test(err.message) })
)
