// The playground at / in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core): a shared photo is chosen with the keyboard-reachable file input (or
// dropped, or pasted), detect and classify run against the real models, and the page shows what the API answered —
// boxes drawn where the JSON says, labels with score bars, how the request was served, the
// Server-Timing bar — and the live device panel. Every wait is for a DOM condition.
// SWITCHYARD_UPDATE_SCREENSHOT=1 rewrites docs/playground.png from this run.
/// <reference lib="dom" />
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import sharp from 'sharp'
import t from 'tap'
import { tinyModel } from '../../test-support/onnx-writer.js'
import { REPO, SHARED_IMAGES, startServer } from '../../test-support/server.js'

const CHROMIUM = process.env.SWITCHYARD_CHROMIUM ?? '/usr/bin/chromium'
const WAIT = { timeout: 120_000 }

if (!existsSync(CHROMIUM)) {
  t.fail(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium; .ci/run does) or set SWITCHYARD_CHROMIUM`)
} else {
  // a model repository with one plain ONNX model (written now), rescanned by the test
  const repo = mkdtempSync(join(tmpdir(), 'switchyard-playground-'))
  t.teardown(() => rmSync(repo, { recursive: true, force: true }))
  const plain = (name: string, offset: number): void => {
    mkdirSync(join(repo, name, '1'), { recursive: true })
    writeFileSync(join(repo, name, '1', 'model.onnx'), tinyModel({ offset }))
  }
  plain('tiny', 1)
  const server = await startServer(t, { modelRepository: { dir: repo, pollMs: 0 } })
  const { api } = await server.listen()
  /** every POST the page sends, to check what the controls put in it */
  const sent: Array<{ url: string, headers: Record<string, string> }> = []
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
  const failures: string[] = []
  let expectingError = false
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`))
  // failed loads are judged by their responses below, everything else logged as an error fails
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) failures.push(`console: ${m.text()}`) })
  page.on('response', (r) => { if (r.status() >= 400 && !expectingError) failures.push(`${r.status()} ${r.request().method()} ${r.url()}`) })
  page.on('request', (r) => { if (!r.url().startsWith(api) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) failures.push(`request off the server: ${r.url()}`) })
  page.on('request', (r) => { if (r.method() === 'POST') sent.push({ url: r.url().slice(api.length), headers: r.headers() }) })

  const photo = join(SHARED_IMAGES, 'dog.jpg')
  const bytes = readFileSync(photo)
  const expected = await (await fetch(`${api}/detect/yolox-nano`, { method: 'POST', body: bytes, headers: { 'content-type': 'image/jpeg' } })).json() as {
    width: number, height: number, detections: Array<{ label: string, box: { x1: number, y1: number, x2: number, y2: number } }>
  }

  t.test('the page loads from the server alone, with the models to choose from', async (t) => {
    const res = await page.goto(`${api}/`)
    t.equal(res?.status(), 200)
    t.match(res?.headers()['content-security-policy'], /default-src 'self'/)
    await page.waitForSelector('#model option', { state: 'attached', ...WAIT })
    t.same(await page.$$eval('#model option', (os) => os.map((o) => (o as HTMLOptionElement).value)), ['mobilenetv2'], 'classify models first')
    await page.waitForSelector('#live-rows tr[data-device="cpu"]', WAIT)
    t.equal(await page.textContent('#live-rows tr[data-device="cpu"] td:nth-child(2)'), 'healthy', 'the live panel lists the device')
    t.equal(await page.textContent('#live-rows tr[data-device="pool"] [data-field="queued"]'), '0', 'and the late-binding pools, counted once, idle')
  })

  t.test('keyboard: the file input, the options and Run are reachable by Tab', async (t) => {
    await page.focus('body')
    const seen: string[] = []
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab')
      seen.push(await page.evaluate(() => document.activeElement?.id || (document.activeElement as HTMLInputElement | null)?.name || ''))
    }
    for (const id of ['file', 'task', 'model', 'policy', 'device']) t.ok(seen.includes(id), `${id} is focusable (${seen.join(' → ')})`)
    await page.focus('#file')
    t.equal(await page.$eval('#drop', (e) => getComputedStyle(e).outlineStyle), 'solid', 'the drop zone shows focus while its file input has it')
  })

  t.test('detect: boxes drawn over the image where the API says, with labels', async (t) => {
    await page.setInputFiles('#file', photo)
    await page.check('input[name=task][value=detect]')
    await page.waitForSelector('#model option[value="yolox-nano"]', { state: 'attached', ...WAIT })
    await page.selectOption('#policy', 'latency')
    await page.selectOption('#device', 'cpu')
    await page.waitForSelector('#run:not([disabled])', WAIT)
    await page.focus('#run')
    await page.keyboard.press('Enter')
    await page.waitForSelector('#boxes g[data-detection]', WAIT)
    await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).complete && (document.getElementById('preview') as HTMLImageElement).naturalWidth > 0, null, WAIT)

    const drawn = await page.$$eval('#boxes g[data-detection]', (gs) => gs.map((g) => {
      const r = g.querySelector('rect')!
      return { i: Number(g.getAttribute('data-detection')), label: g.getAttribute('data-label'), text: g.querySelector('text')!.textContent, x: Number(r.getAttribute('x')), y: Number(r.getAttribute('y')), w: Number(r.getAttribute('width')), h: Number(r.getAttribute('height')) }
    }))
    t.equal(drawn.length, expected.detections.length, `one box per detection (${drawn.length})`)
    for (const d of drawn) {
      const e = expected.detections[d.i]!
      t.equal(d.label, e.label)
      t.match(d.text, new RegExp(`^${e.label} 0\\.\\d\\d$`), `labelled "${d.text}"`)
      t.same([d.x, d.y, d.x + d.w, d.y + d.h].map((v) => Math.round(v)), [e.box.x1, e.box.y1, e.box.x2, e.box.y2].map((v) => Math.round(v)), `${e.label} box where the API put it`)
    }
    t.equal(await page.getAttribute('#boxes', 'viewBox'), `0 0 ${expected.width} ${expected.height}`, 'in original-image pixels')
    // the overlay covers the image exactly, so boxes land on the photo at any display size
    const [img, svg] = await Promise.all([page.$eval('#preview', (e) => e.getBoundingClientRect().toJSON()), page.$eval('#boxes', (e) => e.getBoundingClientRect().toJSON())])
    t.same([svg.x, svg.y, svg.width, svg.height].map(Math.round), [img.x, img.y, img.width, img.height].map(Math.round), 'the SVG overlays the displayed image')
    const labels = await page.$$eval('#labels li', (ls) => ls.map((l) => l.getAttribute('data-label')))
    t.ok(['dog', 'bicycle', 'car'].every((l) => labels.includes(l)), `listed: ${labels.join(', ')}`)
    t.equal(await page.textContent('#served dd[data-field="device"]'), 'cpu', 'served by the pinned device')
    t.match(await page.textContent('#served dd[data-field="batch size"]'), /^\d+$/)
    const phases = await page.$$eval('#timing span', (ss) => ss.map((s) => [s.getAttribute('data-phase'), parseFloat((s as HTMLElement).style.width)] as const))
    t.same(phases.map(([p]) => p), ['decode', 'queue', 'inference', 'postprocess', 'other'], 'the Server-Timing bar has its phases')
    t.ok(Math.abs(phases.reduce((s, [, w]) => s + w, 0) - 100) < 0.5, 'which add up to the total')
    t.ok(phases.find(([p]) => p === 'inference')![1] > 0, 'inference took part of it')
    await page.waitForFunction(() => /^\d/.test(document.querySelector('#live-rows tr[data-device="cpu"] [data-field="rate"]')?.textContent ?? ''), null, WAIT)
    t.pass('the live panel shows a throughput')

    const shot = await page.screenshot({ fullPage: true })
    writeFileSync(join(tmpdir(), 'switchyard-playground.png'), shot)
    if (process.env.SWITCHYARD_UPDATE_SCREENSHOT === '1') writeFileSync(join(REPO, 'docs/playground.png'), await sharp(shot).png({ palette: true, quality: 90, effort: 8 }).toBuffer())
  })

  t.test('classify: labels with score bars', async (t) => {
    await page.check('input[name=task][value=classify]')
    await page.click('#run')
    await page.waitForSelector('#labels li[data-label^="malamute"]', WAIT)
    const rows = await page.$$eval('#labels li', (ls) => ls.map((l) => ({ label: l.getAttribute('data-label'), score: Number(l.querySelector('.score')!.textContent), bar: parseFloat((l.querySelector('.bar span') as HTMLElement).style.width) })))
    t.equal(rows.length, 5, 'top 5')
    t.match(rows[0]!.label, /^malamute/)
    for (const r of rows) t.ok(Math.abs(r.bar - r.score * 100) < 0.1, `${r.label}: bar at ${r.bar.toFixed(1)}% for ${r.score}`)
    t.equal(await page.$$eval('#boxes g', (g) => g.length), 0, 'no boxes for a classification')
  })

  t.test('an image can also be dropped or pasted', async (t) => {
    const give = (how: 'drop' | 'paste', name: string) => page.evaluate(({ how, name, b64 }) => {
      const file = new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'image/jpeg' })
      const dt = new DataTransfer()
      dt.items.add(file)
      if (how === 'drop') document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
      else document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
    }, { how, name, b64: readFileSync(join(SHARED_IMAGES, name)).toString('base64') })
    await give('drop', 'eagle.jpg')
    await page.waitForFunction(() => document.getElementById('drop-text')!.textContent!.startsWith('eagle.jpg'), null, WAIT)
    await page.click('#run')
    await page.waitForSelector('#labels li[data-label^="bald eagle"]', WAIT)
    t.pass('a dropped photo is classified')
    await give('paste', 'dog.jpg')
    await page.waitForFunction(() => document.getElementById('drop-text')!.textContent!.startsWith('pasted image'), null, WAIT)
    await page.click('#run')
    await page.waitForSelector('#labels li[data-label^="malamute"]', WAIT)
    t.pass('and a pasted one')
  })

  t.test('an error is shown, not thrown', async (t) => {
    await page.setInputFiles('#file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not really a png') })
    expectingError = true
    await page.click('#run')
    await page.waitForSelector('#status.error', WAIT)
    expectingError = false
    t.match(await page.textContent('#status'), /^400 SY_INVALID_IMAGE: /)
  })

  t.test('the controls offer what the API does: cost policy, variant, tiling', async (t) => {
    await page.setInputFiles('#file', photo)
    t.same(await page.$$eval('#policy option', (os) => os.map((o) => (o as HTMLOptionElement).value)), ['', 'latency', 'throughput', 'cost'])
    await page.check('input[name=task][value=classify]')
    t.ok(await page.isHidden('#tiles-field'), 'no tiling for a classification')
    const variants = await page.$$eval('#variant option', (os) => os.map((o) => (o as HTMLOptionElement).value))
    t.ok(variants.includes('int8'), `the variant served is offered (${variants.join(', ')})`)
    await page.selectOption('#variant', 'int8')
    await page.selectOption('#policy', 'cost')
    await page.selectOption('#device', '')
    sent.length = 0
    await page.click('#run')
    // the answer of this request (the page still shows the last one until it comes)
    await page.waitForFunction(() => document.querySelector('#served dd[data-field="policy"]')?.textContent === 'cost', null, WAIT)
    t.equal(sent[0]?.headers['x-switchyard-variant'], 'int8', 'the variant goes in X-Switchyard-Variant')
    t.equal(sent[0]?.headers['x-switchyard-policy'], 'cost')
    t.equal(await page.textContent('#served dd[data-field="policy"]'), 'cost', 'served under the cost policy')
    t.equal(await page.textContent('#served dd[data-field="variant"]'), 'int8')

    await page.check('input[name=task][value=detect]')
    await page.waitForSelector('#tiles-field:not([hidden])', WAIT)
    await page.selectOption('#tiles', '2')
    await page.selectOption('#policy', 'latency')
    sent.length = 0
    await page.click('#run')
    await page.waitForSelector('#served dd[data-field="tiles"]', WAIT)
    t.match(sent[0]?.url, /^\/detect\/yolox-nano\?tiles=2$/, 'tiling goes in ?tiles')
    t.match(await page.textContent('#served dd[data-field="tiles"]'), /^\d+ \(\d+×\d+\)/, 'the answer shows the tiles')
    await page.selectOption('#tiles', '')
  })

  t.test('any model the repository serves: its tensors in, its outputs back; one loaded later appears', async (t) => {
    await page.check('input[name=task][value=tensors]')
    await page.waitForSelector('#model option[value="tiny"]', { state: 'attached', ...WAIT })
    t.ok(await page.isHidden('#drop'), 'no image for a plain model')
    t.same(JSON.parse(await page.inputValue('#tensor-input')), { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] }] }, 'the inputs filled from the session\'s metadata')
    await page.fill('#tensor-input', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }))
    sent.length = 0
    await page.click('#run')
    await page.waitForSelector('#tensor-output:not([hidden])', WAIT)
    t.equal(sent[0]?.url, '/v2/models/tiny/infer')
    t.match(await page.textContent('#tensor-output'), /y FP32 \[1, 4\]\n\[3,5,7,9\]/, 'x·2 + 1')
    t.equal(await page.textContent('#served dd[data-field="device"]'), 'cpu')

    plain('later', 5)
    await server.repository.rescan()
    await page.waitForSelector('#model option[value="later"]', { state: 'attached', ...WAIT })
    await page.selectOption('#model', 'later')
    await page.waitForFunction(() => (document.getElementById('version') as HTMLSelectElement).options.length === 2, null, WAIT)
    await page.selectOption('#version', '1')
    await page.fill('#tensor-input', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] }] }))
    sent.length = 0
    await page.click('#run')
    await page.waitForFunction(() => /\[5,5,5,5\]/.test(document.getElementById('tensor-output')!.textContent ?? ''), null, WAIT)
    t.equal(sent[0]?.url, '/v2/models/later/versions/1/infer', 'the version chosen')
    await page.check('input[name=task][value=classify]')
  })

  t.test('nothing was fetched from elsewhere and no script failed', async (t) => {
    t.same(failures, [])
  })
}
