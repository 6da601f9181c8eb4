// The images, checked without a Docker engine:
// - both Dockerfiles: multi-stage, production dependencies only at run time, the onnxruntime
//   install skip, a non-root user, a HEALTHCHECK on /healthz, models from /models;
// - every file they COPY from the context exists and survives .dockerignore;
// - the runtime stage's layout, assembled from the same paths with the stage's ENV, runs:
//   node_modules is a real production install made here by the deps stage's own commands
//   (`npm ci --omit=dev`, from the registry, into a temporary directory), so a runtime import
//   of a dev dependency fails here as it would in the image; then, as the image's uid, weights
//   from the models "volume", the HEALTHCHECK command passes, a photo is classified, and
//   SIGTERM ends it with exit 0 within the shutdown grace.
import { spawn, spawnSync } from 'node:child_process'
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'
import t from 'tap'
import { SHARED_IMAGES, SHARED_MODELS } from '../src/test-support/server.js'
import { REPO, dockerignore, freePort, parseCopy, parseDockerfile, readJson, readText, repoPath, stageEnv, waitFor, type Stage } from './support.js'

const DOCKERFILES = ['Dockerfile', 'docker/Dockerfile.cuda']
const ignored = dockerignore(readText('.dockerignore'))
const pkg = readJson<{ dependencies: Record<string, string>, devDependencies: Record<string, string> }>('package.json')
const lock = readJson<{ packages: Record<string, { dev?: boolean }> }>('package-lock.json')

function healthcheckArgv (stage: Stage): string[] {
  const hc = stage.instructions.find((i) => i.cmd === 'HEALTHCHECK')
  const m = hc && /\bCMD\s+(\[.*\])\s*$/.exec(hc.args)
  return m ? JSON.parse(m[1]!) as string[] : []
}

for (const file of DOCKERFILES) {
  t.test(`${file}: stages, user, healthcheck`, async (t) => {
    const stages = parseDockerfile(readText(file))
    const runtime = stages[stages.length - 1]!
    t.ok(stages.length >= 3, `multi-stage (${stages.map((s) => s.name).join(', ')})`)
    t.equal(runtime.name, 'runtime', 'the last stage is the runtime image')
    const runs = (s: Stage): string => s.instructions.filter((i) => i.cmd === 'RUN').map((i) => i.args).join('\n')
    const build = stages.find((s) => /npm run build/.test(runs(s)))
    t.ok(build, 'a stage compiles with `npm run build`')
    t.match(runs(build!), /npm ci(?! --omit)/, 'after installing every dependency (dev included)')
    const deps = stages.find((s) => /npm ci --omit=dev/.test(runs(s)))
    t.ok(deps, 'a stage installs production dependencies only (`npm ci --omit=dev`)')
    for (const s of stages.filter((s) => /npm ci/.test(runs(s)))) {
      const copies = s.instructions.filter((i) => i.cmd === 'COPY').map((i) => parseCopy(i.args).sources).flat()
      t.ok(copies.includes('.npmrc') && copies.includes('package-lock.json'), `${s.name}: copies .npmrc and the lockfile before npm ci`)
      t.equal(stageEnv(s).ONNXRUNTIME_NODE_INSTALL, 'skip', `${s.name}: onnxruntime-node's CUDA download is skipped`)
    }
    const copiesFrom = runtime.instructions.filter((i) => i.cmd === 'COPY').map((i) => parseCopy(i.args))
    t.ok(copiesFrom.some((c) => c.from === deps!.name && c.sources.includes('/app/node_modules')), 'the runtime takes node_modules from the production stage')
    t.ok(copiesFrom.some((c) => c.from === build!.name && c.sources.includes('/app/dist')), 'and dist from the build stage')
    t.notOk(runtime.instructions.some((i) => i.cmd === 'RUN' && /npm (ci|install)/.test(i.args)), 'and installs nothing itself')

    const user = runtime.instructions.filter((i) => i.cmd === 'USER').pop()?.args ?? 'root'
    t.notOk(/^(root|0)(:|$)/.test(user), `runs as a non-root user (${user})`)
    t.equal(user, '1000:1000', 'uid 1000, as the Kubernetes securityContext says')
    const argv = healthcheckArgv(runtime)
    t.equal(argv[0], 'node', 'HEALTHCHECK runs node (no curl in the image)')
    t.match(argv.join(' '), /fetch\(.*\/healthz/, 'and fetches /healthz')
    const env = stageEnv(runtime)
    t.equal(env.SWITCHYARD_MODELS_DIR, '/models', 'weights from the /models volume')
    t.equal(env.SWITCHYARD_CACHE_DIR, '/var/cache/switchyard', 'downloads cached in /var/cache/switchyard')
    t.equal(env.PORT, '8080')
    t.equal(env.HOST, '0.0.0.0')
    t.ok(Number(env.SWITCHYARD_SHUTDOWN_GRACE_MS) > 0, 'a shutdown grace')
    const volume = runtime.instructions.find((i) => i.cmd === 'VOLUME')
    t.same(volume && JSON.parse(volume.args), ['/models', '/var/cache/switchyard'])
    t.ok(runtime.instructions.some((i) => i.cmd === 'EXPOSE' && i.args === env.PORT), 'EXPOSE matches PORT')
    t.same(runtime.instructions.find((i) => i.cmd === 'CMD')?.args, '["node", "dist/main.js"]', 'node is PID 1 and gets SIGTERM itself')
    t.match(runs(runtime), /chown 1000:1000 \/models \/var\/cache\/switchyard/, 'the two data directories belong to the server\'s user')
  })

  t.test(`${file}: every COPY from the context exists and is in the build context`, async (t) => {
    const stages = parseDockerfile(readText(file))
    for (const s of stages) {
      for (const i of s.instructions.filter((i) => i.cmd === 'COPY' || i.cmd === 'ADD')) {
        const c = parseCopy(i.args)
        if (c.from !== null) continue
        for (const src of c.sources) {
          t.ok(existsSync(repoPath(src)), `${file}:${i.line} ${src} exists`)
          t.notOk(ignored(src), `${file}:${i.line} ${src} is not excluded by .dockerignore`)
        }
      }
    }
  })
}

t.test('docker/Dockerfile.cuda: CUDA 13 + cuDNN 9, the onnxruntime 1.29.0 CUDA provider, cpu,cuda:0', async (t) => {
  const text = readText('docker/Dockerfile.cuda')
  const stages = parseDockerfile(text)
  const runtime = stages[stages.length - 1]!
  t.match(text, /ARG CUDA_IMAGE=nvidia\/cuda:13\.\d+\.\d+-cudnn-runtime-/, 'an nvidia/cuda 13 cuDNN runtime base')
  t.equal(runtime.from, '${CUDA_IMAGE}')
  t.equal(pkg.dependencies['onnxruntime-node'], '1.29.0', 'the project pins onnxruntime-node 1.29.0')
  t.match(text, /ORT_CUDA_PACKAGE=com\.github\.asus4\.onnxruntime\.linux-x64-gpu@0\.4\.9/, 'the provider of the same onnxruntime release (1.29.0, CUDA 13)')
  t.match(text, /ORT_CUDA_INTEGRITY=sha512-\S+/, 'pinned by integrity')
  t.match(text, /\[ "\$v" = "1\.29\.0" \]/, 'the build fails if onnxruntime-node is not 1.29.0')
  for (const so of ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so']) t.match(text, new RegExp(`Plugins/Linux/x64/${so.replace(/\./g, '\\.')}`), `takes ${so}`)
  const provider = runtime.instructions.filter((i) => i.cmd === 'COPY').map((i) => parseCopy(i.args)).find((c) => c.from === 'provider')
  t.equal(provider?.dest, './node_modules/onnxruntime-node/bin/napi-v6/linux/x64/', 'into onnxruntime-node\'s linux/x64 binaries')
  t.ok(existsSync(repoPath('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node')), 'where onnxruntime-node keeps its binding')
  t.equal(stageEnv(runtime).SWITCHYARD_DEVICES, 'cpu,cuda:0')
  t.equal(stageEnv(runtime).NVIDIA_DRIVER_CAPABILITIES, 'compute,utility')
})

t.test('.dockerignore keeps the context to what the build needs', async (t) => {
  for (const p of ['node_modules', 'node_modules/fastify/package.json', 'dist', 'dist/main.js', '.git', '.tap', 'coverage', '.cache', '.gpu', 'docs', 'docker/k8s', 'bench', 'src/app.test.ts', 'src/http/routes/infer.test.ts', 'src/test-support/server.ts', 'README.md']) {
    t.ok(ignored(p), `${p} is left out`)
  }
  const needed = ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'tsconfig.build.json', 'config/default.json']
  const walk = (dir: string): string[] => readdirSync(repoPath(dir)).flatMap((f) => statSync(repoPath(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)])
  needed.push(...walk('src').filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('src/test-support')))
  needed.push(...walk('models'))
  for (const p of needed) t.notOk(ignored(p), `${p} is in the context`)
})

// ---- the runtime stage, assembled and run ---------------------------------------------------

/**
 * Runs a stage here, in `dir` (its WORKDIR): its COPYs from the build context, then its RUN
 * commands (BuildKit's --mount flags dropped: they only add a cache) under the stage's ENV.
 */
function runStage (stage: Stage, dir: string): void {
  // what the commands need from this machine: where to find npm and its cache, and a proxy if any
  const passed = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(PATH|HOME|TMPDIR)$|proxy$|^npm_config_(registry|cache)$/i.test(k)))
  for (const i of stage.instructions) {
    if (i.cmd === 'COPY') {
      const c = parseCopy(i.args)
      if (c.from !== null || !c.dest.endsWith('/')) throw new Error(`Dockerfile:${i.line}: runStage copies only from the context into a directory`)
      for (const src of c.sources) cpSync(repoPath(src), join(dir, c.dest, basename(src)), { recursive: true })
    } else if (i.cmd === 'RUN') {
      const command = i.args.replace(/^(--\S+\s+)+/, '')
      // packages already in this machine's npm cache are taken from it without asking the registry
      // again (a slow registry made the install outlast its limit once): what is checked is that
      // the stage's own commands produce a working install, not the registry's latency
      const r = spawnSync('/bin/sh', ['-c', command], { cwd: dir, env: { npm_config_prefer_offline: 'true', ...passed, ...stageEnv(stage) }, encoding: 'utf8', timeout: 240_000 })
      if (r.status !== 0) throw new Error(`Dockerfile:${i.line} \`${command}\` failed (${r.status ?? r.signal}):\n${`${r.stdout}${r.stderr}`.slice(-3000)}`)
    }
  }
}

t.test('the runtime stage runs on a production install: healthcheck, inference, graceful SIGTERM', async (t) => {
  const stages = parseDockerfile(readText('Dockerfile'))
  const runtime = stages[stages.length - 1]!
  if (!existsSync(repoPath('dist/main.js'))) return t.fail('dist/main.js is missing: run `npm run build` first (npm test does)')

  // the deps stage, run here: production dependencies only, installed from the lockfile
  const root = mkdtempSync(join(tmpdir(), 'switchyard-image-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const depsStage = stages.find((s) => s.name === parseCopy(runtime.instructions.find((i) => i.cmd === 'COPY' && /\/app\/node_modules/.test(i.args))!.args).from)!
  const deps = join(root, 'deps')
  mkdirSync(deps)
  runStage(depsStage, deps)
  const devOnly = Object.keys(pkg.devDependencies).filter((d) => lock.packages[`node_modules/${d}`]?.dev === true)
  t.ok(devOnly.length > 0, `package.json has dev-only dependencies (${devOnly.length})`)
  t.same(devOnly.filter((d) => existsSync(join(deps, 'node_modules', d))), [], `the deps stage installs none of them (${devOnly.slice(0, 4).join(', ')}, …)`)
  for (const d of Object.keys(pkg.dependencies)) t.ok(existsSync(join(deps, 'node_modules', d, 'package.json')), `and every production dependency: ${d}`)

  // /app as the runtime stage lays it out: dist from the build stage, node_modules from the
  // deps stage just run, the rest copied from the context
  const app = join(root, 'app')
  mkdirSync(app)
  for (const i of runtime.instructions.filter((i) => i.cmd === 'COPY')) {
    const c = parseCopy(i.args)
    const dest = join(app, c.dest)
    // Docker's rule: into a destination ending in "/", a file keeps its name and a directory
    // gives its contents; otherwise the destination is the new path
    if (c.from === null) for (const src of c.sources) cpSync(repoPath(src), c.dest.endsWith('/') && statSync(repoPath(src)).isFile() ? join(dest, basename(src)) : dest, { recursive: true })
    else if (c.sources[0] === '/app/dist') cpSync(repoPath('dist'), dest, { recursive: true })
    else if (c.sources[0] === '/app/node_modules') renameSync(join(deps, 'node_modules'), dest)
  }
  t.same(readdirSync(app).sort(), ['config', 'dist', 'models', 'node_modules', 'package.json'], 'what the image holds under /app')
  const cache = join(root, 'cache')
  mkdirSync(cache)

  const env = stageEnv(runtime)
  const port = await freePort()
  const asImageUser = process.getuid?.() === 0
  if (asImageUser) {
    chownSync(root, 1000, 1000)
    chownSync(cache, 1000, 1000)
  }
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...env,
    // what `docker run -v …:/models -p …` would change: the weights volume and the address
    SWITCHYARD_MODELS_DIR: SHARED_MODELS,
    SWITCHYARD_CACHE_DIR: cache,
    HOST: '127.0.0.1',
    PORT: String(port)
  }
  const cmd = JSON.parse(runtime.instructions.find((i) => i.cmd === 'CMD')!.args) as string[]
  let log = ''
  const child = spawn(process.execPath, cmd.slice(1), { cwd: app, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], ...(asImageUser ? { uid: 1000, gid: 1000 } : {}) })
  child.stdout.on('data', (b: Buffer) => { log += b.toString() })
  child.stderr.on('data', (b: Buffer) => { log += b.toString() })
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })

  const [hcCmd, ...hcArgs] = healthcheckArgv(runtime)
  const healthcheck = (): number | null => spawnSync(hcCmd === 'node' ? process.execPath : hcCmd!, hcArgs, { env: childEnv, timeout: 5000 }).status
  t.not(healthcheck(), 0, 'the HEALTHCHECK fails before the server listens')
  await waitFor('the HEALTHCHECK command to pass', 90_000, async () => {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${log.slice(-3000)}`)
    return healthcheck() === 0 ? true : undefined
  })
  t.pass(`the HEALTHCHECK command passes${asImageUser ? ' (server running as uid 1000)' : ''}`)
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
  t.equal(ready.status, 200, '/readyz: ready')
  const res = await fetch(`http://127.0.0.1:${port}/classify`, { method: 'POST', body: readFileSync(join(SHARED_IMAGES, 'dog.jpg')), headers: { 'content-type': 'image/jpeg' } })
  t.equal(res.status, 200, 'classifies a photo')
  t.equal(((await res.json()) as { device: string }).device, env.SWITCHYARD_DEVICES, 'on the image\'s device list')
  for (const [path, type] of [['/', /^text\/html/], ['/playground/playground.js', /^text\/javascript/], ['/openapi.json', /^application\/json/], ['/docs/static/swagger-ui-bundle.js', /javascript/]] as const) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`)
    t.equal(r.status, 200, `serves ${path} (the playground, the OpenAPI document and Swagger UI are in the image)`)
    t.match(r.headers.get('content-type'), type)
  }
  // the cache holds only what the server derived at load (batchable/: a model freed of its fixed batch)
  t.same(readdirSync(cache).filter((f) => f !== 'batchable'), [], 'weights came from the models volume: nothing downloaded')
  t.notOk(existsSync(join(app, '.cache')), 'nothing written under /app')

  const started = Date.now()
  child.kill('SIGTERM')
  const code = await exit
  t.equal(code, 0, 'SIGTERM: exit 0')
  t.ok(Date.now() - started < Number(env.SWITCHYARD_SHUTDOWN_GRACE_MS), 'within SWITCHYARD_SHUTDOWN_GRACE_MS')
  t.match(log, /shutdown complete/, 'the log says the shutdown completed')
  t.not(healthcheck(), 0, 'the HEALTHCHECK fails once it has stopped')
  t.ok(relative(REPO, app).startsWith('..'), 'ran outside the checkout')
})
