// jobs.decodeNice: job images decoded by the background decoder (a child process at a lower
// CPU priority, src/preprocess/decode-process.ts) give the same answers as in the server
// process, and the decoder ends with the server. (A bad image is refused at submission, which
// decodes it; decode-process.test.ts pins that the decoder's errors are the server's.)
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { getPriority } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { checkClassification } from '../test-support/expected.js'
import { multipart, PHOTOS, SHARED_IMAGES, startServer } from '../test-support/server.js'

const KEY = `sy_${randomBytes(24).toString('base64url')}`
const auth = { authorization: `Bearer ${KEY}` }
const photo = (name: string): Buffer => readFileSync(join(SHARED_IMAGES, name))

/** this process's children running the background decoder (Linux /proc) */
function decoders (): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('decode-child')) out.push(Number(d))
    } catch {}
  }
  return out
}

const server = await startServer(t, {
  auth: { apiKeys: [{ name: 'k', sha256: createHash('sha256').update(KEY).digest('hex'), models: ['*'] }] },
  jobs: { decodeNice: 12 }
})
const { app } = server

async function run (files: Array<{ filename: string, data: Buffer }>): Promise<Record<string, any>> {
  const form = multipart(files.map((f) => ({ name: 'image', filename: f.filename, type: 'image/jpeg', data: f.data })))
  const res = await app.inject({ method: 'POST', url: '/jobs', payload: form.payload, headers: { ...form.headers, ...auth } })
  if (res.statusCode !== 202) throw new Error(`POST /jobs: ${res.statusCode} ${res.body}`)
  for (;;) {
    const body = (await app.inject({ method: 'GET', url: `/jobs/${res.json().id as string}`, headers: auth })).json()
    if (body.state === 'done') return body
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('the photos decoded in the background decoder: one verified result each', async (t) => {
  const job = await run(PHOTOS.map((p) => ({ filename: p, data: photo(p) })))
  t.equal(job.results.length, PHOTOS.length)
  for (const [i, r] of (job.results as Array<Record<string, any>>).entries()) {
    t.match(r, { index: i, ok: true })
    await checkClassification(t, PHOTOS[i]!, r.predictions)
  }
  const kids = decoders()
  t.equal(kids.length, 1, 'one decoder process')
  t.equal(getPriority(kids[0]!), 12, 'at the nice value configured')
})

t.test('the decoder ends with the server', async (t) => {
  const kids = decoders()
  t.equal(kids.length, 1)
  await server.close()
  t.throws(() => process.kill(kids[0]!, 0), { code: 'ESRCH' })
})
