// The Gateway API Inference Extension deployment (docker/k8s/gaie/), checked offline:
//   - `kubectl kustomize` renders it; every Kubernetes object passes the upstream OpenAPI
//     validators (kubernetes-models) and, for the kinds it covers, docker/schemas' strict schema;
//     InferencePool and HTTPRoute pass the pinned schemas in docker/k8s/gaie/testdata/
//   - the pieces fit: pool selector ↔ both Deployments, pool → EPP Service, route → pool, one
//     HPA per Deployment on a Switchyard gauge, EPP → its ConfigMap and pool
//   - the EPP configuration passes the llm-d-router config schema; every reference resolves; one
//     profile per policy, each scoring its own predicted-finish attribute beside the EPP's
//     in-flight count (and the queue scorer, but for latency); the fleet simulator's EPP runs the
//     same profiles; the header-profile handler reads X-Switchyard-Policy with latency as default
//   - against a live server: every metric the EPP maps (and the HPA's adapter rule) exists as
//     exactly one series, and the values move under load
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import { EPP_PROFILES, eppProfilesFromConfig } from '../src/sim/fleet.js'
import { startServer, SHARED_IMAGES } from '../src/test-support/server.js'
import { readText, repoPath, run, which, yamlDocuments } from './support.js'

const kubectl = which('kubectl')
if (kubectl instanceof Error) throw kubectl
const rendered = run(kubectl, ['kustomize', repoPath('docker/k8s/gaie')])
const docs: any[] = rendered.status === 0 ? yamlDocuments(rendered.stdout) : []
const find = (kind: string, name: string): any => docs.find((d) => d.kind === kind && d.metadata?.name === name)

const ajv = new Ajv.default({ allErrors: true, strict: false })
addFormats.default(ajv)
const schema = (file: string) => ajv.compile(JSON.parse(readText('docker/k8s/gaie/testdata', file)))
const poolSchema = schema('inferencepool-v1.schema.json')
const routeSchema = schema('httproute-v1.schema.json')
const eppSchema = schema('endpointpickerconfig-v1alpha1.schema.json')
const strict = JSON.parse(readText('docker/schemas/kubernetes-strict.json')) as { $id: string }
ajv.addSchema(strict)
const STRICT: Record<string, string> = {
  'apps/v1/Deployment': 'io.k8s.api.apps.v1.Deployment',
  'v1/Service': 'io.k8s.api.core.v1.Service',
  'v1/ConfigMap': 'io.k8s.api.core.v1.ConfigMap',
  'autoscaling/v2/HorizontalPodAutoscaler': 'io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler',
  'policy/v1/PodDisruptionBudget': 'io.k8s.api.policy.v1.PodDisruptionBudget'
}
const UPSTREAM: Record<string, new (data: any) => { validate: () => void }> = {
  'apps/v1/Deployment': Deployment, 'v1/Service': Service, 'v1/ConfigMap': ConfigMap, 'v1/ServiceAccount': ServiceAccount,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler, 'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role, 'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding
}
const errors = (v: { errors?: any[] | null }): string[] => (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)

t.test('renders with kubectl kustomize, and every object validates', async (t) => {
  t.equal(rendered.status, 0, rendered.out)
  const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()
  for (const k of ['Deployment/switchyard-cpu', 'Deployment/switchyard-gpu', 'Deployment/switchyard-epp', 'HorizontalPodAutoscaler/switchyard-cpu', 'HorizontalPodAutoscaler/switchyard-gpu', 'InferencePool/switchyard', 'HTTPRoute/switchyard', 'Service/switchyard-epp', 'ConfigMap/switchyard-epp-config']) t.ok(kinds.includes(k), k)
  for (const d of docs) {
    const gvk = `${d.apiVersion}/${d.kind}`
    const where = `${d.kind}/${d.metadata.name}`
    if (d.kind === 'InferencePool') { t.ok(poolSchema(d), `${where}: ${errors(poolSchema).join('; ')}`); continue }
    if (d.kind === 'HTTPRoute') { t.ok(routeSchema(d), `${where}: ${errors(routeSchema).join('; ')}`); continue }
    const Upstream = UPSTREAM[gvk]
    t.ok(Upstream, `${where}: a known kind`)
    if (!Upstream) continue
    t.doesNotThrow(() => new Upstream(d).validate(), `${where}: Kubernetes OpenAPI (kubernetes-models)`)
    // the strict schema covers Switchyard's own objects (the EPP's gRPC probe is outside its subset)
    if (STRICT[gvk] && d.metadata.name !== 'switchyard-epp') {
      const v = ajv.getSchema(`${strict.$id}#/definitions/${STRICT[gvk]}`)!
      t.ok(v(d), `${where}: strict schema ${errors(v).join('; ')}`)
    }
  }
})

t.test('the schemas refuse what the API refuses', async (t) => {
  const pool = structuredClone(find('InferencePool', 'switchyard'))
  delete pool.spec.endpointPickerRef.port
  t.notOk(poolSchema(pool), 'a Service EPP without a port')
  const route = structuredClone(find('HTTPRoute', 'switchyard'))
  route.spec.rules[0].matches[0].path.type = 'Prefix'
  t.notOk(routeSchema(route), 'an unknown path match type')
})

t.test('the pieces fit together', async (t) => {
  const pool = find('InferencePool', 'switchyard')
  for (const acc of ['cpu', 'gpu']) {
    const d = find('Deployment', `switchyard-${acc}`)
    const labels = d.spec.template.metadata.labels
    for (const [k, v] of Object.entries(pool.spec.selector.matchLabels)) t.equal(labels[k], v, `the pool selects the ${acc} pods (${k})`)
    t.equal(labels['switchyard.dev/accelerator'], acc, `${acc} pods labelled by accelerator`)
    t.equal(d.spec.selector.matchLabels['switchyard.dev/accelerator'], acc, 'and selected by it: the two Deployments never adopt each other\'s pods')
    t.equal(labels['llm-d.ai/engine-type'], 'switchyard', 'the EPP reads them with the switchyard engine mapping')
    t.equal(d.spec.template.spec.containers[0].ports[0].containerPort, pool.spec.targetPorts[0].number, 'the pool\'s target port is the API port')
    const hpa = find('HorizontalPodAutoscaler', `switchyard-${acc}`)
    t.equal(hpa.spec.scaleTargetRef.name, `switchyard-${acc}`, `the ${acc} HPA scales its own Deployment`)
    t.equal(hpa.spec.metrics[0].pods.metric.name, 'switchyard_pod_queued_requests', 'on the pod-level queue gauge')
  }
  const gpu = find('Deployment', 'switchyard-gpu').spec.template.spec.containers[0]
  t.equal(gpu.resources.limits['nvidia.com/gpu'], '1')
  const eppSvc = find('Service', 'switchyard-epp')
  t.equal(pool.spec.endpointPickerRef.name, eppSvc.metadata.name, 'the pool calls the EPP Service')
  t.equal(pool.spec.endpointPickerRef.port.number, eppSvc.spec.ports[0].port)
  const epp = find('Deployment', 'switchyard-epp').spec.template.spec
  t.ok(epp.containers[0].args.includes(`--pool-name=${pool.metadata.name}`), 'the EPP watches this pool')
  t.match(epp.containers[0].image, /:v\d+\.\d+\.\d+$/, 'the EPP image is pinned to a release')
  t.equal(epp.volumes[0].configMap.name, 'switchyard-epp-config')
  const route = find('HTTPRoute', 'switchyard')
  const paths = route.spec.rules.flatMap((r: any) => r.matches.map((m: any) => m.path.value))
  t.same(paths.sort(), ['/classify', '/detect', '/v2'], 'the image routes and the Open Inference Protocol')
  t.same(route.spec.rules[0].backendRefs[0], { group: 'inference.networking.k8s.io', kind: 'InferencePool', name: 'switchyard' })
})

const eppConfig = parseYaml(find('ConfigMap', 'switchyard-epp-config')?.data?.['config.yaml'] ?? '{}')
const pluginNamed = (ref: string): any => eppConfig.plugins.find((p: any) => (p.name ?? p.type) === ref)
const extractor = pluginNamed('core-metrics-extractor')?.parameters?.engineConfigs?.[0]

t.test('the EPP configuration: schema, references, one profile per policy', async (t) => {
  t.ok(eppSchema(eppConfig), errors(eppSchema).join('; '))
  const refs = [
    ...eppConfig.schedulingProfiles.flatMap((p: any) => p.plugins.map((x: any) => x.pluginRef)),
    ...eppConfig.requestHandler.parsers.map((p: any) => p.pluginRef),
    ...eppConfig.dataLayer.sources.flatMap((s: any) => [s.pluginRef, ...s.extractors.map((e: any) => e.pluginRef)])
  ]
  for (const r of refs) t.ok(pluginNamed(r), `${r} is a configured plugin`)
  t.equal(pluginNamed(eppConfig.requestHandler.parsers[0].pluginRef).type, 'passthrough-parser', 'bodies are images: passthrough')
  const handler = eppConfig.plugins.find((p: any) => p.type === 'header-profile-handler')
  t.same(handler.parameters, { headerName: 'x-switchyard-policy', defaultProfile: 'latency' }, 'X-Switchyard-Policy picks the profile; missing or unknown: latency')
  t.same(eppConfig.schedulingProfiles.map((p: any) => p.name), ['latency', 'throughput', 'cost'])
  const finishKey: Record<string, string> = { latency: 'switchyard.finish_latency', throughput: 'switchyard.finish_throughput', cost: 'switchyard.cost_per_image' }
  for (const profile of eppConfig.schedulingProfiles) {
    const plugins = profile.plugins.map((x: any) => ({ ...x, plugin: pluginNamed(x.pluginRef) }))
    const scorers = plugins.filter((x: any) => x.plugin.type.endsWith('-scorer'))
    const pickers = plugins.filter((x: any) => x.plugin.type.endsWith('-picker'))
    t.equal(pickers.length, 1, `${profile.name}: one picker`)
    const own = scorers.find((x: any) => x.plugin.type === 'endpoint-attribute-scorer')
    t.equal(own?.plugin.parameters.attributeKey, finishKey[profile.name], `${profile.name}: scores its own prediction`)
    t.equal(own?.plugin.parameters.algorithm.type, 'linear_lower_is_better')
    // the queued-requests gauge counts bulk work, which latency requests jump
    t.equal(scorers.some((x: any) => x.plugin.type === 'queue-scorer'), profile.name !== 'latency', `${profile.name}: ${profile.name === 'latency' ? 'no' : 'the'} queue scorer beside it`)
    t.ok(scorers.some((x: any) => x.plugin.type === 'active-request-scorer'), `${profile.name}: the EPP's own in-flight count, never stale`)
    t.ok(scorers.every((x: any) => typeof x.weight === 'number' && x.weight > 0), 'every scorer weighted')
  }
  const latencyRange = pluginNamed('finish-latency').parameters.algorithm.normalization?.fixedRange
  t.ok(latencyRange !== undefined && latencyRange.min < latencyRange.max, 'latency: the finish gauge over a fixed range (seconds), so every pod good enough ties and the in-flight count spreads them')
  t.same(eppProfilesFromConfig(eppConfig), EPP_PROFILES, 'the fleet simulator runs exactly these profiles (src/sim/fleet.ts)')
  const attributes = new Set(extractor.customMetrics.map((m: any) => m.attributeKey))
  for (const key of Object.values(finishKey)) t.ok(attributes.has(key), `${key} is extracted`)
})

/** `name{a=b,c=d}` (the extractor's metric spec) → name and label matchers */
function parseSpec (spec: string): { name: string, labels: Record<string, string> } {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/.exec(spec)
  if (!m) throw new Error(`not a metric spec: ${spec}`)
  const labels: Record<string, string> = {}
  for (const pair of (m[2] ?? '').split(',').filter(Boolean)) {
    const [k, v] = pair.split('=')
    labels[k!.trim()] = v!.trim().replace(/^"|"$/g, '')
  }
  return { name: m[1]!, labels }
}

/** the samples of a live exposition matching a spec: [labels, value] */
function matching (text: string, spec: string): number[] {
  const { name, labels } = parseSpec(spec)
  const out: number[] = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) out.push(Number(m[3]))
  }
  return out
}

t.test('every mapped metric exists on a live server as one series, and moves under load', async (t) => {
  // throughput batches wait up to 1 s to fill: requests sit queued long enough to be seen
  const server = await startServer(t, { devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 1000 } }] })
  const specs: string[] = [extractor.queuedRequestsSpec, extractor.runningRequestsSpec, ...extractor.customMetrics.map((m: any) => m.metricSpec)]
  const adapter = parseYaml(readText('docker/k8s/gaie/prometheus-adapter-rules.yaml')).rules[0]
  specs.push(/^(\w+)/.exec(adapter.seriesQuery)![1]!)
  const scrape = async (): Promise<string> => (await server.app.inject('/metrics')).body
  const idle = await scrape()
  for (const spec of specs) t.equal(matching(idle, spec).length, 1, `${spec}: exactly one series`)
  const value = (text: string, spec: string): number => matching(text, spec)[0]!
  const photo = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
  const answers = Promise.all(Array.from({ length: 3 }, () => server.app.inject({ method: 'POST', url: '/detect', payload: photo, headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': 'throughput' } })))
  let loaded = ''
  for (let i = 0; i < 400 && loaded === ''; i++) {
    const text = await scrape()
    if (value(text, extractor.queuedRequestsSpec) >= 1) loaded = text
    else await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.not(loaded, '', 'queued requests seen while a batch fills')
  const throughputFinish = extractor.customMetrics.find((m: any) => m.attributeKey === 'switchyard.finish_throughput').metricSpec
  t.ok(value(loaded, extractor.queuedRequestsSpec) > value(idle, extractor.queuedRequestsSpec), 'queued rose')
  t.not(value(loaded, throughputFinish), value(idle, throughputFinish), 'the throughput prediction moved with the queue')
  t.same((await answers).map((r) => r.statusCode), [200, 200, 200])
  const after = await scrape()
  t.equal(value(after, extractor.queuedRequestsSpec), 0, 'and fell back once served')
})
