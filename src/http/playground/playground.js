// The Switchyard playground: plain browser JavaScript, no build step, no network beyond this
// server. Sends an image to POST /classify/:model or /detect/:model with the chosen routing
// headers (policy, device, variant) and tiling, or a plain ONNX model's tensors to POST
// /v2/models/:model[/versions/:v]/infer; shows labels with score bars, boxes over the image, the
// output tensors, how the request was served (headers and the Server-Timing breakdown), and a
// live panel from GET /models and /metrics. What it offers is read from /models: the configured
// models with their variants, and every model the repository serves.
const $ = (id) => document.getElementById(id)
const form = $('request')
const fileInput = $('file')
const drop = $('drop')
const status = $('status')
const SVG = 'http://www.w3.org/2000/svg'
const PHASES = ['decode', 'queue', 'inference', 'postprocess']

let models = []
let repository = [] // plain ONNX models of the model repository (GET /models → repository)
let image = null // the Blob to send
let previewUrl = null

/** the same class colour the server's drawn answers use (golden-angle hues) */
const classColour = (index) => `hsl(${(index * 137.508) % 360} 90% 50%)`

function el (tag, attrs = {}, text) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  if (text !== undefined) e.textContent = text
  return e
}

function say (message, isError = false) {
  status.textContent = message
  status.classList.toggle('error', isError)
}

const task = () => form.elements.task.value

/** Replaces a select's options, keeping the chosen value when it is still offered. */
function offer (select, options) {
  const current = select.value
  select.replaceChildren(...options)
  if ([...select.options].some((o) => o.value === current)) select.value = current
}

function fillModels () {
  const t = task()
  const plain = t === 'tensors'
  offer($('model'), plain
    ? repository.map((m) => el('option', { value: m.name }, m.ready ? m.name : `${m.name} (not ready)`))
    : models.filter((m) => m.task === t).map((m) => el('option', { value: m.name }, m.ready ? m.name : `${m.name} (not ready)`)))
  $('tiles-field').hidden = t !== 'detect'
  $('variant-field').hidden = plain
  $('version-field').hidden = !plain
  $('tensor-box').hidden = !plain
  $('drop').hidden = plain
  $('run').disabled = !plain && image === null
  fillDevices()
}

function fillDevices () {
  const name = $('model').value
  if (task() === 'tensors') {
    const m = repository.find((x) => x.name === name)
    const served = (m?.versions ?? []).filter((v) => v.state === 'READY')
    const ids = [...new Set(served.flatMap((v) => v.devices.map((d) => d.id)))]
    offer($('device'), [el('option', { value: '' }, 'any (routed)'), ...ids.map((id) => el('option', { value: id }, id))])
    offer($('version'), [el('option', { value: '' }, 'newest served'), ...served.map((v) => el('option', { value: v.version }, v.version))])
    fillTensorInput(m, served)
    return
  }
  const model = models.find((m) => m.name === name)
  offer($('device'), [el('option', { value: '' }, 'any (routed)'), ...(model?.devices ?? []).map((d) => el('option', { value: d.id }, `${d.id} (${d.kind})`))])
  const variants = (model?.variants ?? []).filter((v) => v.served)
  offer($('variant'), [el('option', { value: '' }, 'the device\'s'), ...(variants.length > 1 ? [el('option', { value: 'most-accurate' }, 'most accurate')] : []), ...variants.map((v) => el('option', { value: v.name }, v.name))])
}

/** A request body for the chosen plain model: every input, one item of zeros (edit before Run). */
let filledFor = null
function fillTensorInput (m, served) {
  const v = served.find((x) => x.version === $('version').value) ?? served[served.length - 1]
  const key = m && v ? `${m.name}@${v.version}` : null
  if (key === filledFor) return
  filledFor = key
  if (!v) { $('tensor-input').value = ''; return }
  const inputs = v.inputs.map((i) => {
    const shape = [1, ...i.shape.slice(1)]
    const n = shape.reduce((a, d) => a * d, 1)
    return { name: i.name, datatype: i.datatype, shape, data: new Array(n).fill(i.datatype === 'BOOL' ? false : 0) }
  })
  $('tensor-input').value = JSON.stringify({ inputs })
}

function setImage (blob, name) {
  if (!blob || !blob.type.startsWith('image/')) {
    say(`${name ?? 'That'} is not an image`, true)
    return
  }
  image = blob
  if (previewUrl) URL.revokeObjectURL(previewUrl)
  previewUrl = URL.createObjectURL(blob)
  $('drop-text').textContent = `${name ?? 'pasted image'} (${Math.round(blob.size / 1024)} KiB) — drop, choose or paste another to replace it`
  $('run').disabled = false
  say('Ready: press Run')
}

fileInput.addEventListener('change', () => { const f = fileInput.files?.[0]; if (f) setImage(f, f.name) })
for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over') })
for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'))
drop.addEventListener('drop', (e) => {
  e.preventDefault()
  const f = e.dataTransfer?.files?.[0]
  if (f) setImage(f, f.name)
})
document.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file' && i.type.startsWith('image/'))
  if (item) { e.preventDefault(); setImage(item.getAsFile(), 'pasted image') }
})
for (const r of form.elements.task) r.addEventListener('change', fillModels)
$('model').addEventListener('change', fillDevices)
$('version').addEventListener('change', fillDevices)

/** Server-Timing: "decode;dur=1.2, queue;dur=0.1, ..." → { decode: 1.2, ... } */
function serverTiming (header) {
  const out = {}
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*;\s*dur=([\d.]+)/.exec(part)
    if (m) out[m[1]] = Number(m[2])
  }
  return out
}

/** The routing headers every request carries: policy, pinned device, variant, API key. */
function routingHeaders () {
  const headers = { accept: 'application/json' }
  if ($('policy').value) headers['x-switchyard-policy'] = $('policy').value
  if ($('device').value) headers['x-switchyard-device'] = $('device').value
  if (task() !== 'tensors' && $('variant').value) headers['x-switchyard-variant'] = $('variant').value
  if ($('key').value) headers.authorization = `Bearer ${$('key').value}`
  return headers
}

async function runTensors () {
  const model = $('model').value
  const version = $('version').value
  const url = `/v2/models/${encodeURIComponent(model)}${version ? `/versions/${encodeURIComponent(version)}` : ''}/infer`
  let body
  try { body = JSON.stringify(JSON.parse($('tensor-input').value)) } catch (err) { say(`The inputs are not JSON: ${err.message}`, true); return }
  $('run').disabled = true
  say(`Sending to ${url} …`)
  try {
    const res = await fetch(url, { method: 'POST', body, headers: { ...routingHeaders(), 'content-type': 'application/json' } })
    const answer = await res.json()
    if (!res.ok) { say(`${res.status} ${res.headers.get('x-switchyard-error') ?? ''}: ${answer.error}`, true); return }
    showTensors(answer, res.headers)
    say(`Done: ${model} version ${answer.model_version} on ${res.headers.get('x-switchyard-device')}`)
  } catch (err) {
    say(`The request failed: ${err.message}`, true)
  } finally {
    $('run').disabled = false
  }
}

form.addEventListener('submit', async (e) => {
  e.preventDefault()
  if (task() === 'tensors') { await runTensors(); return }
  if (!image) { say('Choose an image first', true); fileInput.focus(); return }
  const t = task()
  const model = $('model').value
  const headers = { ...routingHeaders(), 'content-type': image.type || 'application/octet-stream' }
  const query = t === 'detect' && $('tiles').value ? `?tiles=${encodeURIComponent($('tiles').value)}` : ''
  $('run').disabled = true
  say(`Sending to /${t}/${model}${query} …`)
  try {
    const res = await fetch(`/${t}/${encodeURIComponent(model)}${query}`, { method: 'POST', body: image, headers })
    const body = await res.json()
    if (!res.ok) { say(`${res.status} ${body.error}: ${body.message}`, true); return }
    show(t, body, res.headers)
    say(`Done: ${t} on ${body.device} in ${body.timing.totalMs} ms`)
  } catch (err) {
    say(`The request failed: ${err.message}`, true)
  } finally {
    $('run').disabled = false
  }
})

function bar (score, colour) {
  const b = el('div', { class: 'bar', 'aria-hidden': 'true' })
  const fill = el('span')
  fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`
  if (colour) fill.style.background = colour
  b.append(fill)
  return b
}

/** A plain model's answer: its output tensors as JSON, and how it was served. */
function showTensors (answer, headers) {
  $('result').hidden = false
  $('stage').hidden = true
  $('labels').replaceChildren()
  $('answer-title').textContent = `Outputs of ${answer.model_name} version ${answer.model_version}`
  const out = $('tensor-output')
  out.hidden = false
  out.textContent = answer.outputs.map((o) => `${o.name} ${o.datatype} [${o.shape.join(', ')}]\n${JSON.stringify(o.data)}`).join('\n\n')
  showServed([
    ['model', `${answer.model_name} version ${answer.model_version}`],
    ['device', headers.get('x-switchyard-device') ?? '?'],
    ['batch size', headers.get('x-switchyard-batch-size') ?? '?'],
    ['policy', headers.get('x-switchyard-policy') ?? '?'],
    ['predicted', `${headers.get('x-switchyard-predicted-ms') ?? '?'} ms`],
    ['actual', `${headers.get('x-switchyard-actual-ms') ?? '?'} ms`]
  ], headers, 0)
}

function showServed (served, headers, totalMs) {
  $('served').replaceChildren(...served.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k }, v)]))
  const timing = serverTiming(headers.get('server-timing'))
  const total = timing.total ?? totalMs
  const parts = PHASES.map((p) => [p, timing[p] ?? 0])
  const other = Math.max(0, total - parts.reduce((s, [, v]) => s + v, 0))
  parts.push(['other', other])
  const barEl = $('timing')
  barEl.setAttribute('role', 'img')
  barEl.setAttribute('aria-label', `Server-Timing: ${parts.map(([p, v]) => `${p} ${v.toFixed(1)} ms`).join(', ')}`)
  barEl.replaceChildren(...parts.map(([p, v]) => {
    const s = el('span', { 'data-phase': p, title: `${p}: ${v.toFixed(2)} ms` })
    s.style.width = `${total > 0 ? (v / total) * 100 : 0}%`
    s.style.background = `var(--${p})`
    return s
  }))
  $('timing-legend').replaceChildren(...parts.map(([p, v]) => {
    const li = el('li')
    const i = el('i', { 'aria-hidden': 'true' })
    i.style.background = `var(--${p})`
    li.append(i, document.createTextNode(`${p} ${v.toFixed(1)} ms`))
    return li
  }))
}

function show (t, body, headers) {
  $('result').hidden = false
  $('stage').hidden = false
  $('tensor-output').hidden = true
  const img = $('preview')
  img.src = previewUrl
  const svg = $('boxes')
  svg.replaceChildren()
  const list = $('labels')
  list.replaceChildren()
  if (t === 'classify') {
    $('answer-title').textContent = 'Labels'
    svg.removeAttribute('viewBox')
    for (const p of body.predictions) {
      const li = el('li', { 'data-label': p.label })
      li.append(el('span', { class: 'label' }, p.label), el('span', { class: 'score' }, p.score.toFixed(3)), bar(p.score))
      list.append(li)
    }
  } else {
    $('answer-title').textContent = `${body.detections.length} detection${body.detections.length === 1 ? '' : 's'}`
    svg.setAttribute('viewBox', `0 0 ${body.width} ${body.height}`)
    svg.setAttribute('preserveAspectRatio', 'none')
    const stroke = Math.max(2, Math.round(Math.min(body.width, body.height) / 160))
    const font = Math.max(11, stroke * 6)
    for (const [i, d] of [...body.detections.entries()].reverse()) {
      const colour = classColour(d.index)
      const g = document.createElementNS(SVG, 'g')
      g.setAttribute('data-detection', String(i))
      g.setAttribute('data-label', d.label)
      const rect = document.createElementNS(SVG, 'rect')
      const attrs = { x: d.box.x1, y: d.box.y1, width: d.box.x2 - d.box.x1, height: d.box.y2 - d.box.y1, fill: 'none', stroke: colour, 'stroke-width': stroke }
      for (const [k, v] of Object.entries(attrs)) rect.setAttribute(k, String(v))
      const text = `${d.label} ${d.score.toFixed(2)}`
      const tagH = Math.ceil(font * 1.3)
      const tagY = d.box.y1 >= tagH ? d.box.y1 - tagH : d.box.y1
      const tag = document.createElementNS(SVG, 'rect')
      for (const [k, v] of Object.entries({ x: d.box.x1, y: tagY, width: Math.ceil(text.length * font * 0.6) + 2 * stroke, height: tagH, fill: colour })) tag.setAttribute(k, String(v))
      const label = document.createElementNS(SVG, 'text')
      for (const [k, v] of Object.entries({ x: d.box.x1 + stroke, y: tagY + tagH - Math.round(font * 0.3), 'font-size': font, fill: '#000' })) label.setAttribute(k, String(v))
      label.textContent = text
      g.append(rect, tag, label)
      svg.append(g)
    }
    for (const d of body.detections) {
      const li = el('li', { 'data-label': d.label })
      const name = el('span', { class: 'label' })
      const sw = el('i', { class: 'swatch', 'aria-hidden': 'true' })
      sw.style.background = classColour(d.index)
      name.append(sw, document.createTextNode(d.label))
      li.append(name, el('span', { class: 'score' }, d.score.toFixed(3)), bar(d.score, classColour(d.index)))
      list.append(li)
    }
  }

  const served = [
    ['model', body.model],
    ['variant', headers.get('x-switchyard-variant') ?? body.variant],
    ['device', headers.get('x-switchyard-device') ?? body.device],
    ['batch size', String(body.batchSize)],
    ['policy', body.policy],
    ...(body.tiles ? [['tiles', `${body.tiles.count} (${body.tiles.grid.columns}×${body.tiles.grid.rows})${body.tiles.wholeImage ? ' + the whole image' : ''}`]] : []),
    ['predicted', `${headers.get('x-switchyard-predicted-ms') ?? body.timing.predictedMs} ms`],
    ['actual (after decode)', `${headers.get('x-switchyard-actual-ms') ?? '?'} ms`],
    ['total', `${body.timing.totalMs} ms`]
  ]
  showServed(served, headers, body.timing.totalMs)
}

// ---- live panel: queue depth and running work from /models, images/s from /metrics -----------
let lastImages = null // { at, perDevice: Map }

async function imagesPerDevice () {
  const res = await fetch('/metrics')
  if (!res.ok) return null
  const text = await res.text()
  const out = new Map()
  for (const m of text.matchAll(/^switchyard_batch_size_sum\{([^}]*)\} (\S+)$/gm)) {
    const device = /device="([^"]*)"/.exec(m[1])?.[1]
    if (device !== undefined) out.set(device, (out.get(device) ?? 0) + Number(m[2]))
  }
  return out
}

/** The live panel's row for what waits for whichever device of a model frees first. */
function poolRow (queued) {
  const tr = el('tr', { 'data-device': 'pool', title: 'waiting in a pool or shared queue for whichever device frees first' })
  tr.append(el('td', {}, 'pool'), el('td', {}, '–'), el('td', { class: 'num', 'data-field': 'queued' }, String(queued)), el('td', { class: 'num' }, '–'), el('td', { class: 'num' }, '–'))
  return tr
}

async function refresh () {
  try {
    const res = await fetch('/models')
    const report = await res.json()
    const first = models.length === 0
    models = report.models
    const known = repository.map((m) => `${m.name}:${m.versions.map((v) => v.version + v.state).join()}`).join()
    repository = report.repository ?? []
    const changed = known !== repository.map((m) => `${m.name}:${m.versions.map((v) => v.version + v.state).join()}`).join()
    // models the repository loads later appear without a reload of the page
    if (first || (changed && task() === 'tensors')) fillModels()
    const devices = new Map()
    const lanes = [...report.models.map((m) => m.devices), ...repository.flatMap((m) => m.versions.map((v) => v.devices.map((d) => ({ ...d, healthy: true }))))]
    // what waits for any device of a model — the late-binding pool, or the shared queue under the
    // shared-queue rule — is the same on each of its devices: counted once per model, as `pool`
    // (the device label switchyard_queue_depth gives it)
    let pooled = null
    for (const ds of lanes) {
      let shared = null
      for (const d of ds) {
        const row = devices.get(d.id) ?? { id: d.id, healthy: d.healthy, queued: 0, running: 0 }
        row.queued += d.queue.latency + d.queue.throughput
        row.running += d.inFlight
        devices.set(d.id, row)
        if (d.queue.pool !== undefined || d.queue.shared !== undefined) shared = Math.max(shared ?? 0, (d.queue.pool ?? 0) + (d.queue.shared?.latency ?? 0) + (d.queue.shared?.throughput ?? 0))
      }
      if (shared !== null) pooled = (pooled ?? 0) + shared
    }
    const now = performance.now()
    const images = await imagesPerDevice().catch(() => null)
    const rate = (id) => {
      if (!images || !lastImages) return '–'
      const dt = (now - lastImages.at) / 1000
      return dt > 0 ? ((images.get(id) ?? 0) - (lastImages.perDevice.get(id) ?? 0)) / dt : 0
    }
    $('live-rows').replaceChildren(...[...devices.values()].map((d) => {
      const tr = el('tr', { 'data-device': d.id })
      const r = rate(d.id)
      tr.append(el('td', {}, d.id), el('td', { class: d.healthy ? 'healthy' : 'unhealthy' }, d.healthy ? 'healthy' : 'down'),
        el('td', { class: 'num', 'data-field': 'queued' }, String(d.queued)), el('td', { class: 'num', 'data-field': 'running' }, String(d.running)),
        el('td', { class: 'num', 'data-field': 'rate' }, typeof r === 'number' ? r.toFixed(1) : r))
      return tr
    }), ...(pooled === null ? [] : [poolRow(pooled)]))
    $('live-note').textContent = images ? 'Every second from /models and /metrics.' : 'Every second from /models; images/s needs /metrics on this port.'
    if (images) lastImages = { at: now, perDevice: images }
  } catch (err) {
    $('live-note').textContent = `Could not read the server's state: ${err.message}`
  } finally {
    setTimeout(refresh, 1000)
  }
}

refresh()
