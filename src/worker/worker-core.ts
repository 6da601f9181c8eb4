// One inference worker, wherever it runs (a worker thread: inference-worker.ts; a child
// process: inference-process.ts): owns an onnxruntime session per model on one device, turns
// prepared pixels into the input tensor, runs the batch and decodes the outputs. The main
// thread never calls session.run(): it blocks the JS thread for the whole inference.
//
// Lifecycle: init → sessions created, warmed up, calibrated → 'ready'.
// 'run' messages are served one at a time. 'stop' finishes the current run, releases the
// sessions and closes the transport; the main thread never terminate()s a worker thread that
// may be inside run() (onnxruntime-node aborts the whole process when that happens).
import { performance } from 'node:perf_hooks'
import * as ort from 'onnxruntime-node'
import type { FaultMode } from '../devices/faults.js'
import { softmaxTopK } from '../postprocess/softmax-top-k.js'
import { checkDetectorOutput, checkSplitOutputs, decodeDetections, decodeSplitDetections } from '../postprocess/detectors.js'
import { TensorLayout } from './tensor-layout.js'
import { calibratedSizes, paddedSize } from './batch-shapes.js'
import { calibrateTensors, executeTensors, openTensorModel, type LoadedTensorModel } from './tensor-model.js'
import type { ItemResult, MainToWorker, ModelFailure, ModelReport, RunMessage, TensorModel, WorkerInit, WorkerModel, WorkerToMain } from './protocol.js'

/** How a worker talks to its device: a thread's MessagePort or a child process's IPC channel. */
export interface WorkerTransport {
  /** 'process': the worker owns its process, so a 'crash' fault may abort it */
  readonly isolation: 'thread' | 'process'
  send: (msg: WorkerToMain, transfer?: ArrayBuffer[]) => void
  onMessage: (listener: (msg: MainToWorker) => void) => void
  /** after 'stop': lets the thread or process end */
  close: () => void
}

interface Loaded {
  model: WorkerModel
  session: ort.InferenceSession
  layout: TensorLayout
  /** input buffer for the largest batch, reused by every run */
  input: Float32Array
  maxBatchSize: number
}

let port: WorkerTransport
let init: WorkerInit
const loaded = new Map<string, Loaded>()
/** plain ONNX models (the model repository), by lane key */
const tensorLoaded = new Map<string, LoadedTensorModel>()
/** the next batch's fault (one-shot) */
let pendingFault: Exclude<FaultMode, 'slow' | 'fail-start'> | null = null
/** ms added to every batch (the 'slow' fault) */
let slowMs = 0
/** what Atomics.wait blocks on: a slow batch's timed wait, a hung batch's endless one */
let waitCell = new Int32Array(new SharedArrayBuffer(4))
let queue: Promise<void> = Promise.resolve()

function send (msg: WorkerToMain, transfer: ArrayBuffer[] = []): void {
  port.send(msg, transfer)
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
    calibration = await calibrateTensors(entry, calibrationRuns, init.device.calibratedShapes === true)
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
    const shapeOf = (name: string): Array<number | string> | undefined => (session.outputMetadata.find((m) => m.name === name && m.isTensor) as { shape?: Array<number | string> } | undefined)?.shape
    const outputShape = shapeOf(model.output.name) ?? []
    const roles = model.output.roles
    if (model.output.decode.kind !== 'softmax' && roles !== undefined) {
      // boxes and scores (and labels) as separate outputs: each must exist, their shapes fit
      const missing = Object.values(roles).filter((n) => shapeOf(n) === undefined)
      if (missing.length > 0) throw new Error(`model ${model.name}: output.roles names ${missing.join(', ')}, which the model does not output (outputs: ${session.outputNames.join(', ')})`)
      const why = checkSplitOutputs(model.output.decode, { boxes: shapeOf(roles.boxes)!, scores: shapeOf(roles.scores)!, ...(roles.labels !== undefined ? { labels: shapeOf(roles.labels)! } : {}) })
      if (why !== null) throw new Error(`model ${model.name}: ${why}`)
    } else if (model.output.decode.kind !== 'softmax' && outputShape.length > 0) {
      const why = checkDetectorOutput(model.output.decode, outputShape)
      if (why !== null) throw new Error(`model ${model.name}: ${why}`)
    }
    const shapes: NonNullable<ModelReport['shapes']> = []
    const calibration = await calibrate(entry, shapes)
    return { name: model.name, inputShape: meta.shape as Array<number | string>, outputShape, dynamicBatch, maxBatchSize, calibration, ...(init.device.calibratedShapes === true ? { shapes } : {}) }
  }
}

/** The batch size a batch of n items runs at on this device (batch-shapes.ts). */
function paddedShape (entry: Pick<Loaded, 'maxBatchSize'>, n: number): number {
  return paddedSize(n, entry.maxBatchSize, init.device.calibratedShapes === true)
}

/**
 * Warm-up, then the median time of `calibrationRuns` batches for n = 1, 2, 4, … max batch.
 * Each timed batch goes through exactly what a served batch does — tensor layout, run, output
 * decoding (execute()) — on blank images of the model's input size, so the cost model is seeded
 * with the same quantity it is refitted on (the worker time the 'result' message reports).
 * With calibrated shapes every worker, calibrating or not, runs each size once first, and
 * `shapes` gets the time of each first run.
 */
async function calibrate (entry: Loaded, shapes: NonNullable<ModelReport['shapes']>): Promise<ModelReport['calibration']> {
  const { width, height } = entry.model.input
  const blank = { pixels: new Uint8Array(width * height * 3), width, height, originalWidth: width, originalHeight: height }
  const items: RunMessage['items'] = Array.from({ length: entry.maxBatchSize }, () => ({ image: blank, params: {} }))
  const sizes = calibratedSizes(entry.maxBatchSize)
  if (init.device.calibratedShapes === true) {
    for (const n of sizes) {
      const t = performance.now()
      await execute(entry, items.slice(0, n))
      shapes.push({ batchSize: n, firstMs: performance.now() - t })
    }
  } else {
    await execute(entry, items.slice(0, 1)) // the first run allocates and (on CUDA) picks kernels
  }
  if (init.calibrationRuns === 0) return []
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
  // a 'slow' device: the time passes inside the timed section without burning a core
  if (slowMs > 0) Atomics.wait(waitCell, 0, 0, slowMs)
  const t1 = performance.now()
  const rows = paddedShape(entry, n)
  const outputs = await runSession(entry, rows)
  const t2 = performance.now()
  const output = outputs[entry.model.output.name]
  if (!output) throw new Error(`model ${entry.model.name} has no output named ${entry.model.output.name}`)
  const results = decode(entry, output, items, outputs, rows)
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
    if (fault === 'crash') process.abort() // a native crash: SIGABRT (process isolation only)
    if (fault === 'hang') hang()
    throw new Error('injected fault: run failed')
  }
  const r = entry ? await execute(entry, msg.items) : await executeTensors(plain!, msg.items, paddedShape(plain!, n))
  const transfer = r.results.flatMap((x) => x.kind === 'tensors' ? x.outputs.map((o) => o.data.buffer as ArrayBuffer) : x.raw ? [x.raw.data.buffer as ArrayBuffer] : [])
  send({ type: 'result', batchId: msg.batchId, ...r }, transfer)
}

/** A ready input tensor (one item's float32 bytes), copied byte for byte: no alignment needed. */
function copyTensor (entry: Loaded, bytes: Uint8Array, index: number): void {
  const size = 3 * entry.layout.plane * 4
  if (bytes.byteLength !== size) throw new Error(`tensor item of ${bytes.byteLength} bytes, expected ${size}`)
  new Uint8Array(entry.input.buffer, entry.input.byteOffset + index * size, size).set(bytes)
}

/** `rows`: the batch size the session ran — n, or more when the batch ran padded (paddedShape). */
function decode (entry: Loaded, output: ort.Tensor, items: RunMessage['items'], outputs: ort.InferenceSession.OnnxValueMapType, rows: number): ItemResult[] {
  const data = output.data as Float32Array
  const n = items.length
  const per = data.length / rows
  const spec = entry.model.output.decode
  const roles = entry.model.output.roles
  const dims = output.dims.slice(1).map(Number)
  const results: ItemResult[] = []
  for (let i = 0; i < n; i++) {
    const { image, params } = items[i]!
    const slice = data.subarray(i * per, (i + 1) * per)
    // a copy only when asked for (the Open Inference Protocol's raw outputs)
    const raw = params.rawOutput === true ? { raw: { data: slice.slice(), shape: [1, ...dims] } } : {}
    if (spec.kind === 'softmax') {
      results.push({ kind: 'classify', predictions: softmaxTopK(slice, entry.model.labels, params.topK ?? spec.topK), ...raw })
    } else {
      const { layout } = entry
      const { left, top } = layout.offset(image)
      const g = {
        inputWidth: layout.width,
        inputHeight: layout.height,
        ratio: Math.min(layout.width / image.originalWidth, layout.height / image.originalHeight),
        left,
        top,
        originalWidth: image.originalWidth,
        originalHeight: image.originalHeight
      }
      const p = {
        scoreThreshold: params.scoreThreshold ?? spec.scoreThreshold,
        iouThreshold: params.iouThreshold ?? spec.iouThreshold,
        maxDetections: spec.maxDetections
      }
      const detections = roles === undefined
        ? decodeDetections(spec, slice, dims, g, entry.model.labels, p)
        : decodeSplitDetections(spec, splitSlice(outputs, roles, i, rows), g, entry.model.labels, p)
      results.push({ kind: 'detect', width: image.originalWidth, height: image.originalHeight, detections, ...raw })
    }
  }
  return results
}

/** Item `i`'s slices (of a batch of n) of split detector outputs: boxes, scores and labels. */
function splitSlice (outputs: ort.InferenceSession.OnnxValueMapType, roles: NonNullable<WorkerModel['output']['roles']>, i: number, n: number): { boxes: Float32Array, scores: Float32Array, labels: ArrayLike<number | bigint> | null, n: number } {
  const item = <T extends { length: number, subarray: (a: number, b: number) => T }>(data: T): T => data.subarray(i * data.length / n, (i + 1) * data.length / n)
  const tensor = (name: string): ort.Tensor => {
    const t = outputs[name]
    if (!t) throw new Error(`the model has no output named ${name}`)
    return t
  }
  const boxes = tensor(roles.boxes)
  const labels = roles.labels === undefined ? null : tensor(roles.labels).data as Float32Array | Int32Array | BigInt64Array
  return {
    boxes: item(boxes.data as Float32Array),
    scores: item(tensor(roles.scores).data as Float32Array),
    labels: labels === null ? null : item(labels as Float32Array),
    n: Number(boxes.dims[1])
  }
}

/**
 * The run never returns: the worker blocks in Atomics.wait, its event loop stopped, no CPU
 * used. In a child process only SIGKILL ends it. A worker thread cannot be killed, so its
 * device may release it (init.hangRelease) when it stops the worker; the batch then fails.
 */
function hang (): void {
  while (Atomics.load(waitCell, 0) === 0) Atomics.wait(waitCell, 0, 0)
  throw new Error('injected fault: hung run released')
}

async function stop (): Promise<void> {
  for (const { session } of loaded.values()) await session.release()
  for (const { session } of tensorLoaded.values()) await session.release()
  loaded.clear()
  tensorLoaded.clear()
  port.close()
}

function onFault (mode: FaultMode, delayMs: number | undefined): void {
  if (!init.allowFaults) return
  if (mode === 'slow') { slowMs = delayMs ?? 0; return }
  if (mode === 'fail-start') return // the device's business: it starts the next worker failing
  // a native abort in a thread would end the whole server: refused (the device refuses it first)
  pendingFault = mode === 'crash' && port.isolation !== 'process' ? 'throw' : mode
}

/** Serves one worker's life on `transport`: load, 'ready', then runs until 'stop'. */
export function serveWorker (transport: WorkerTransport, workerInit: WorkerInit): void {
  port = transport
  init = workerInit
  if (init.hangRelease !== undefined) waitCell = new Int32Array(init.hangRelease)
  if (init.allowFaults) slowMs = init.faults?.slowMs ?? 0
  port.onMessage((msg: MainToWorker) => {
    if (msg.type === 'fault') { onFault(msg.mode, msg.delayMs); return }
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
  if (init.allowFaults && init.faults?.failStart === true) {
    send({ type: 'init-error', message: 'injected fault: worker start failed', providerUnavailable: false })
    return
  }
  load().then(
    ({ models, failures }) => send({ type: 'ready', models, failures }),
    (err: Error) => send({ type: 'init-error', message: err.message, providerUnavailable: PROVIDER_UNAVAILABLE.test(err.message) })
  )
}
