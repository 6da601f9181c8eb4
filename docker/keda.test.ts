// The KEDA overlay (docker/k8s/keda/), checked offline:
//   - `kubectl kustomize` renders it; the Kubernetes objects pass the strict schema and the
//     upstream validators, the ScaledObject passes the schema transcribed from KEDA's CRD
//     (docker/k8s/keda/testdata/, pinned to a KEDA commit)
//   - one autoscaler per Deployment: the base's HPA is gone, the ScaledObject targets the
//     Deployment, nothing else does
//   - each trigger's metadata uses only the parameters KEDA documents for its scaler, with the
//     required ones; the nats-jetstream trigger names the stream and a consumer as the server
//     creates them (nats-backend.ts); the Prometheus queries select metrics and labels a live
//     server exports
import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import t from 'tap'
import { Service } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { startServer } from '../src/test-support/server.js'
import { catalogue, promqlProblems, readText, repoPath, run, which, yamlDocuments } from './support.js'

const kubectl = which('kubectl')
if (kubectl instanceof Error) throw kubectl
const rendered = run(kubectl, ['kustomize', repoPath('docker/k8s/keda')])
const docs: any[] = rendered.status === 0 ? yamlDocuments(rendered.stdout) : []
const base: any[] = yamlDocuments(run(kubectl, ['kustomize', repoPath('docker/k8s/base')]).stdout)

const ajv = new Ajv.default({ allErrors: true, strict: true })
addFormats.default(ajv)
const scaledObjectSchema = ajv.compile(JSON.parse(readText('docker/k8s/keda/testdata', 'scaledobject-v1alpha1.schema.json')))
const strict = JSON.parse(readText('docker/schemas/kubernetes-strict.json')) as { $id: string }
ajv.addSchema(strict)
const STRICT: Record<string, string> = {
  'apps/v1/Deployment': 'io.k8s.api.apps.v1.Deployment',
  'v1/Service': 'io.k8s.api.core.v1.Service',
  'policy/v1/PodDisruptionBudget': 'io.k8s.api.policy.v1.PodDisruptionBudget'
}
const UPSTREAM: Record<string, new (data: any) => { validate: () => void }> = { 'apps/v1/Deployment': Deployment, 'v1/Service': Service, 'policy/v1/PodDisruptionBudget': PodDisruptionBudget }
const errors = (v: { errors?: any[] | null }): string[] => (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)

// KEDA's documented parameters per scaler (keda.sh/docs/2.x/scalers/…): [required, optional]
const SCALER_PARAMS: Record<string, [string[], string[]]> = {
  'nats-jetstream': [['natsServerMonitoringEndpoint', 'stream', 'consumer', 'lagThreshold'], ['account', 'activationLagThreshold', 'useHttps']],
  prometheus: [['serverAddress', 'query', 'threshold'], ['activationThreshold', 'namespace', 'customHeaders', 'ignoreNullValues', 'queryParameters', 'unsafeSsl', 'authModes']]
}

const scaledObject = (): any => docs.find((d) => d.kind === 'ScaledObject')

t.test('renders with kubectl kustomize; every object validates', async (t) => {
  t.equal(rendered.status, 0, rendered.status === 0 ? 'kubectl kustomize docker/k8s/keda' : rendered.out)
  t.equal(rendered.stderr.trim(), '', 'no warnings')
  t.same(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort(), ['Deployment/switchyard', 'PodDisruptionBudget/switchyard', 'ScaledObject/switchyard', 'Service/switchyard'])
  for (const d of docs) {
    const gvk = `${d.apiVersion}/${d.kind}`
    const where = `${d.kind}/${d.metadata.name}`
    if (d.kind === 'ScaledObject') {
      t.ok(scaledObjectSchema(d), `${where}: KEDA CRD schema ${errors(scaledObjectSchema).join('; ')}`)
      continue
    }
    const v = ajv.getSchema(`${strict.$id}#/definitions/${STRICT[gvk]!}`)!
    t.ok(v(d), `${where}: strict schema ${errors(v).join('; ')}`)
    t.doesNotThrow(() => new UPSTREAM[gvk]!(d).validate(), `${where}: Kubernetes OpenAPI`)
  }
})

t.test('the schema refuses what KEDA would not take (or would silently drop)', async (t) => {
  const so = scaledObject()
  const broken = (f: (x: any) => void): boolean => { const x = structuredClone(so); f(x); return scaledObjectSchema(x) as boolean }
  t.notOk(broken((x) => { delete x.spec.triggers }), 'triggers are required')
  t.notOk(broken((x) => { x.spec.minReplicas = 1 }), 'an HPA field name (minReplicas) is not a ScaledObject field')
  t.notOk(broken((x) => { x.spec.triggers[0].metadata.threshold = 4 }), 'trigger metadata are strings')
  t.notOk(broken((x) => { x.spec.triggers[0].metricType = 'Average' }), 'metricType is Value, AverageValue or Utilization')
  t.notOk(broken((x) => { x.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.policies[0] = { type: 'Pods', value: 2 } }), 'a scaling policy needs its period')
})

t.test('one autoscaler for the Deployment: the ScaledObject, in place of the HPA', async (t) => {
  t.equal(base.filter((d) => d.kind === 'HorizontalPodAutoscaler').length, 1, 'the base has its HPA')
  const targets = (d: any): any => d.spec?.scaleTargetRef
  const autoscalers = docs.filter((d) => ['HorizontalPodAutoscaler', 'ScaledObject', 'VerticalPodAutoscaler'].includes(d.kind))
  t.same(autoscalers.map((d) => d.kind), ['ScaledObject'], 'the overlay deletes the HPA')
  const dep = docs.find((d) => d.kind === 'Deployment')
  const so = scaledObject()
  t.same(targets(so), { apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name })
  t.equal(dep.spec.replicas, undefined, 'the Deployment sets no replicas: the autoscaler owns them')
  // the same bounds and behaviour as the HPA it replaces
  const hpa = base.find((d) => d.kind === 'HorizontalPodAutoscaler')
  t.equal(so.spec.minReplicaCount, hpa.spec.minReplicas)
  t.equal(so.spec.maxReplicaCount, hpa.spec.maxReplicas)
  t.same(so.spec.advanced.horizontalPodAutoscalerConfig.behavior, hpa.spec.behavior)
})

t.test('the triggers: documented parameters, the server\'s own stream and consumer names', async (t) => {
  const triggers: any[] = scaledObject().spec.triggers
  t.same(triggers.map((x) => x.type).sort(), ['nats-jetstream', 'prometheus', 'prometheus'])
  for (const tr of triggers) {
    const [required, optional] = SCALER_PARAMS[tr.type]!
    for (const k of required) t.type(tr.metadata[k], 'string', `${tr.name}: ${k} is set`)
    for (const k of Object.keys(tr.metadata)) t.ok(required.includes(k) || optional.includes(k), `${tr.name}: ${k} is a ${tr.type} parameter`)
    t.equal(tr.metricType, 'AverageValue', `${tr.name}: a target per pod`)
    t.ok(Number(tr.metadata.lagThreshold ?? tr.metadata.threshold) > 0, `${tr.name}: a positive threshold`)
  }
  const nats = triggers.find((x) => x.type === 'nats-jetstream')
  // names as src/jobs/nats-backend.ts creates them: <prefix>_JOBS; <hex(model)>_<hex(key)|_>
  t.equal(nats.metadata.stream, 'SWITCHYARD_JOBS')
  t.equal(nats.metadata.consumer, `${Buffer.from('mobilenetv2').toString('hex')}__`, 'mobilenetv2, no API key')
  t.match(nats.metadata.natsServerMonitoringEndpoint, /^[a-z0-9.-]+:8222$/, 'the monitoring port, host:port without a scheme')
  const env: any[] = docs.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0].env
  const url = env.find((e) => e.name === 'SWITCHYARD_JOBS_NATS_URL')?.value
  t.type(url, 'string', 'the Deployment runs jobs on NATS')
  t.equal(new URL(url).hostname, nats.metadata.natsServerMonitoringEndpoint.split(':')[0], 'the server whose monitoring port the trigger reads')
  const hpa = base.find((d) => d.kind === 'HorizontalPodAutoscaler')
  const lagTarget = hpa.spec.metrics.find((m: any) => m.type === 'External').external.target.averageValue
  t.equal(nats.metadata.lagThreshold, lagTarget, 'the same lag per pod as the HPA\'s External metric')
})

t.test('the Prometheus queries select what a live server exports', async (t) => {
  const { app } = await startServer(t, { models: { enabled: ['mobilenetv2'] }, routes: { detect: 'mobilenetv2' }, routing: { calibrationRuns: 1 } })
  const cat = catalogue((await app.inject({ method: 'GET', url: '/metrics' })).body)
  for (const tr of scaledObject().spec.triggers.filter((x: any) => x.type === 'prometheus')) {
    t.same(promqlProblems(tr.metadata.query, cat), [], `${tr.name}: ${tr.metadata.query}`)
  }
})
