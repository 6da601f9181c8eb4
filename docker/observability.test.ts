// The observability contract, checked against a real server on the shared models:
// - every PromQL query of the Grafana dashboard, the alert rules and the Prometheus Adapter
//   rule parses (Prometheus' own lezer grammar) and names only series, matcher labels and
//   by-labels that the live /metrics exports;
// - promtool accepts the live exposition, the compose Prometheus config and its rules;
// - a real `prometheus` scrapes the server through the scrape jobs we ship (compose and
//   Kubernetes, service discovery replaced by the labels it would give), and every dashboard,
//   alert and adapter query evaluates there.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify as toYaml, parse as parseYaml } from 'yaml'
import { PHOTOS, SHARED_IMAGES, startServer } from '../src/test-support/server.js'
import { analysePromql, catalogue, freePort, grafanaToPromql, promqlProblems, readJson, readYaml, repoPath, run, waitFor, which } from './support.js'

// ---- a live server with every kind of series populated --------------------------------------

// two devices, so the dashboard's per-device rows and a retry between devices are real
// the rule chosen by replay (routing.select) on, so its series are exported (its windows, an hour
// apart, never end here: the series start at zero)
const server = await startServer(t, {
  devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4 }, { id: 'cpu-b', kind: 'cpu', maxBatchSize: 4 }],
  routing: { select: { enabled: true, everyMs: 3_600_000 } }
}, { deviceOptions: { allowFaults: true } })
const { api } = await server.listen()
const address = new URL(api).host
const { app } = server
const photo = readFileSync(join(SHARED_IMAGES, PHOTOS.includes('dog.jpg') ? 'dog.jpg' : PHOTOS[0]!))
const jpeg = { 'content-type': 'image/jpeg' }
for (const policy of ['latency', 'throughput']) {
  for (const url of ['/classify', '/detect']) {
    const res = await app.inject({ method: 'POST', url, payload: photo, headers: { ...jpeg, 'x-switchyard-policy': policy } })
    if (res.statusCode !== 200) throw new Error(`${url} (${policy}) answered ${res.statusCode}: ${res.body}`)
  }
}
// rejections and a retry, so switchyard_rejected_requests_total and
// switchyard_batch_retries_total have series: a request pinned to an unknown device, and one
// whose batch fails on one device and then on the other
const rejected = await app.inject({ method: 'POST', url: '/classify', payload: photo, headers: { ...jpeg, 'x-switchyard-device': 'no-such-device' } })
for (const d of server.devices.devices) d.injectFault('throw')
const failed = await app.inject({ method: 'POST', url: '/classify', payload: photo, headers: jpeg })
const metricsText = (await app.inject({ method: 'GET', url: '/metrics' })).body
const cat = catalogue(metricsText)

t.test('the server exported what the checks below rely on', async (t) => {
  t.equal(rejected.statusCode, 404, 'a request pinned to an unknown device is rejected')
  t.equal(failed.statusCode, 503, 'a request whose batch failed on both devices is a 503')
  for (const s of ['switchyard_request_duration_seconds_bucket', 'switchyard_batch_size_count', 'switchyard_rejected_requests_total', 'switchyard_batch_retries_total', 'switchyard_queue_depth']) {
    t.ok((cat.family.get(s)?.samples ?? 0) > 0, `${s} has samples`)
  }
})

t.test('the query checker rejects what it should', async (t) => {
  const problems = (e: string): string => promqlProblems(grafanaToPromql(e), cat).join('\n')
  t.match(problems('rate(switchyard_nope_total[5m])'), /switchyard_nope_total is not exported/)
  t.match(problems('switchyard_request_duration_seconds'), /is a histogram: select switchyard_request_duration_seconds_bucket/)
  t.match(problems('sum(rate(switchyard_queue_depth[5m]'), /syntax error/)
  t.match(problems('switchyard_queue_depth{gpu="0"}'), /has no label "gpu"/)
  t.match(problems('sum by (reason) (switchyard_queue_depth)'), /by \(reason\): none of switchyard_queue_depth/)
  t.match(problems('{__name__="switchyard_missing"}'), /switchyard_missing is not exported/)
  t.equal(problems('histogram_quantile(0.9, sum by (le, device) (rate(switchyard_batch_size_bucket{model=~"$model"}[$__rate_interval])))'), '')
})

// ---- the dashboard --------------------------------------------------------------------------

interface Target { expr?: string, refId?: string }
interface Panel { id?: number, title?: string, type?: string, targets?: Target[], panels?: Panel[], datasource?: { type?: string, uid?: string } }
const dashboard = readJson<{ uid: string, panels: Panel[], templating: { list: Array<{ name: string, type: string, query?: string | { query?: string }, current?: { value?: unknown } }> } }>('docker/grafana/dashboards/switchyard.json')
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])
const queries = panels.flatMap((p) => (p.targets ?? []).map((tg) => ({ where: `panel "${p.title}" ${tg.refId ?? ''}`.trim(), expr: tg.expr ?? '' })))
const variableQueries = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => {
  const q = typeof v.query === 'string' ? v.query : v.query?.query ?? ''
  const m = /^label_values\((.*),\s*([A-Za-z_]\w*)\s*\)$/.exec(q.trim())
  return { where: `variable $${v.name}`, raw: q, selector: m?.[1] ?? null, label: m?.[2] ?? null }
})

t.test('the dashboard queries only metrics and labels the server exports', async (t) => {
  t.ok(queries.length >= 20, `the dashboard has its queries (${queries.length})`)
  for (const { where, expr } of queries) {
    t.not(expr, '', `${where} has an expression`)
    t.same(promqlProblems(grafanaToPromql(expr), cat), [], `${where}: ${expr}`)
  }
  for (const v of variableQueries) {
    t.not(v.selector, null, `${v.where} is label_values(selector, label): ${v.raw}`)
    if (v.selector === null || v.label === null) continue
    t.same(promqlProblems(grafanaToPromql(v.selector), cat), [], `${v.where}: ${v.selector}`)
    const metric = analysePromql(grafanaToPromql(v.selector)).metrics[0]!
    t.ok(cat.series.get(metric)?.has(v.label) === true || ['instance', 'job'].includes(v.label), `${v.where}: ${metric} carries label ${v.label}`)
  }
})

t.test('the dashboard covers what issue 5 asks for, per device', async (t) => {
  const all = queries.map((q) => q.expr).join('\n')
  const metrics = new Set(queries.flatMap((q) => analysePromql(grafanaToPromql(q.expr)).metrics))
  for (const m of [
    'switchyard_request_duration_seconds_count', 'switchyard_queue_depth', 'switchyard_batch_size_bucket',
    'switchyard_queue_wait_duration_seconds_bucket', 'switchyard_inference_duration_seconds_bucket', 'switchyard_request_duration_seconds_bucket',
    'switchyard_routing_decisions_total', 'switchyard_rejected_requests_total', 'switchyard_prediction_error_seconds_bucket',
    'switchyard_device_healthy', 'switchyard_cost_intercept_seconds', 'switchyard_cost_slope_seconds'
  ]) t.ok(metrics.has(m), `a panel shows ${m}`)
  for (const h of ['queue_wait_duration_seconds', 'inference_duration_seconds', 'request_duration_seconds']) {
    for (const q of ['0.5', '0.95', '0.99']) {
      t.match(all, new RegExp(`histogram_quantile\\(${q.replace('.', '\\.')}, sum by \\(le\\) \\(rate\\(switchyard_${h}_bucket\\{`), `p${Number(q) * 100} of ${h} from _bucket rates`)
    }
  }
  const rows = dashboard.panels.filter((p) => p.type === 'row') as Array<Panel & { repeat?: string }>
  t.ok(rows.some((r) => r.repeat === 'device'), 'a row repeats per device')
  t.ok(dashboard.templating.list.some((v) => v.name === 'device'), 'with a $device variable')
  const ds = dashboard.templating.list.find((v) => v.type === 'datasource')
  const provisioned = readYaml<{ datasources: Array<{ uid: string, type: string }> }>('docker/grafana/provisioning/datasources/prometheus.yml').datasources
  t.equal(ds?.current?.value, provisioned[0]!.uid, 'the datasource variable defaults to the provisioned Prometheus')
  for (const p of panels.filter((p) => p.type !== 'row')) t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${p.title}" uses the datasource variable`)
  const ids = panels.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
})

// ---- alert rules and the adapter rule ---------------------------------------------------------

const alerts = readYaml<{ groups: Array<{ rules: Array<{ alert: string, expr: string }> }> }>('docker/prometheus/alerts.yml').groups.flatMap((g) => g.rules)
const composeProm = readYaml<{ scrape_configs: Array<Record<string, any>> }>('docker/prometheus/prometheus.yml')
const k8sProm = readYaml<{ scrape_configs: Array<Record<string, any>> }>('docker/k8s/prometheus/prometheus.yml')
const adapterRule = parseYaml(readYaml<{ data: Record<string, string> }>('docker/k8s/prometheus-adapter/configmap.yaml').data['config.yaml']!).rules[0] as {
  seriesQuery: string, metricsQuery: string, name: { matches: string, as: string }, resources: { overrides: Record<string, { resource: string }> }
}
const prometheusSeries = new Map([['up', new Set(['instance', 'job'])]])

t.test('alert rules name only exported metrics and configured jobs', async (t) => {
  const jobs = new Set(composeProm.scrape_configs.map((j) => j.job_name as string))
  for (const r of alerts) {
    t.same(promqlProblems(r.expr, cat, prometheusSeries), [], `alert ${r.alert}: ${r.expr}`)
    for (const m of r.expr.matchAll(/job="([^"]+)"/g)) t.ok(jobs.has(m[1]!), `alert ${r.alert} selects job "${m[1]}", a job of docker/prometheus/prometheus.yml`)
  }
})

t.test('the Prometheus Adapter rule selects the exported queue depth', async (t) => {
  t.same(promqlProblems(adapterRule.seriesQuery, cat), [], `seriesQuery ${adapterRule.seriesQuery}`)
  t.same(analysePromql(adapterRule.seriesQuery).metrics, ['switchyard_queue_depth'])
  t.equal(cat.family.get('switchyard_queue_depth')?.type, 'gauge', 'queue depth is a gauge (averaged, not rated)')
  t.match('switchyard_queue_depth', new RegExp(adapterRule.name.matches), 'name.matches matches the series')
  const rendered = renderAdapterQuery(adapterRule.metricsQuery, 'namespace="switchyard-test",pod=~"switchyard-0"', 'pod')
  t.same(analysePromql(rendered).errors, [], `metricsQuery renders to valid PromQL: ${rendered}`)
  t.same(Object.keys(adapterRule.resources.overrides).sort(), ['namespace', 'pod'], 'series map to namespace and pod')
  const relabelTargets = new Set((k8sProm.scrape_configs[0]!.relabel_configs as Array<{ target_label?: string }>).map((r) => r.target_label))
  for (const l of ['namespace', 'pod']) t.ok(relabelTargets.has(l), `the kubernetes-pods scrape job sets the ${l} label`)
})

function renderAdapterQuery (template: string, matchers: string, groupBy: string): string {
  return template.replace(/<<\s*\.Series\s*>>/g, 'switchyard_queue_depth').replace(/<<\s*\.LabelMatchers\s*>>/g, matchers).replace(/<<\s*\.GroupBy\s*>>/g, groupBy)
}

// ---- promtool ---------------------------------------------------------------------------------

// prom-client's default Node.js metrics name three gauges *_total; promtool's linter flags
// them. They are the library's names, not Switchyard's: any other finding fails.
const PROM_CLIENT_LINT = new Set(['switchyard_nodejs_active_handles_total', 'switchyard_nodejs_active_requests_total', 'switchyard_nodejs_active_resources_total'])

t.test('promtool', async (t) => {
  const promtool = which('promtool')
  if (promtool instanceof Error) return t.fail(promtool.message)

  const cfg = run(promtool, ['check', 'config', repoPath('docker/prometheus/prometheus.yml')])
  t.equal(cfg.status, 0, 'promtool check config docker/prometheus/prometheus.yml', { output: cfg.out })
  t.match(cfg.out, /SUCCESS: \d+ rules found/, 'and the alert rules it loads')

  const rules = run(promtool, ['check', 'rules', repoPath('docker/prometheus/alerts.yml')])
  t.equal(rules.status, 0, 'promtool check rules docker/prometheus/alerts.yml', { output: rules.out })

  const lint = run(promtool, ['check', 'metrics'], { input: metricsText })
  t.not(lint.status, 1, 'promtool check metrics finds no error in the live exposition', { output: lint.out })
  const findings = lint.out.split('\n').map((l) => l.trim()).filter(Boolean)
  const ours = findings.filter((l) => !PROM_CLIENT_LINT.has(l.split(/\s/)[0]!))
  t.same(ours, [], 'no lint finding on Switchyard\'s own metrics')
  t.ok(lint.status === 0 || findings.length > 0, 'a non-zero exit comes with its findings')
})

// ---- a real Prometheus scrapes the server -----------------------------------------------------

t.test('a real Prometheus scrapes the server through the shipped scrape jobs', async (t) => {
  const prometheus = which('prometheus')
  const promtool = which('promtool')
  if (prometheus instanceof Error) return t.fail(prometheus.message)
  if (promtool instanceof Error) return t.fail(promtool.message)

  const deployment = readYaml<any>('docker/k8s/base/deployment.yaml')
  const annotations = deployment.spec.template.metadata.annotations as Record<string, string>
  const podLabels = deployment.spec.template.metadata.labels as Record<string, string>
  const [host, port] = address.split(':') as [string, string]

  // the compose job: dns_sd_configs gives targets name:8080 with __meta_dns_name
  const composeJob = structuredClone(composeProm.scrape_configs.find((j) => j.job_name === 'switchyard')!)
  t.ok(composeJob.dns_sd_configs, 'the compose job discovers Switchyard by DNS')
  delete composeJob.dns_sd_configs
  composeJob.static_configs = [{ targets: [address], labels: { __meta_dns_name: 'switchyard' } }]
  // the Kubernetes job: the pod role gives podIP:containerPort and the pod's meta labels;
  // the address's port is wrong on purpose, the prometheus.io/port annotation must fix it
  const k8sJob = structuredClone(k8sProm.scrape_configs.find((j) => j.job_name === 'kubernetes-pods')!)
  t.ok(k8sJob.kubernetes_sd_configs, 'the Kubernetes job discovers pods')
  delete k8sJob.kubernetes_sd_configs
  const meta = (a: Record<string, string>, extra: Record<string, string>): Record<string, string> => ({
    ...Object.fromEntries(Object.entries(a).map(([k, v]) => [`__meta_kubernetes_pod_annotation_${k.replace(/[^a-zA-Z0-9_]/g, '_')}`, v])),
    ...Object.fromEntries(Object.entries(podLabels).map(([k, v]) => [`__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, '_')}`, v])),
    __meta_kubernetes_namespace: 'switchyard-test',
    ...extra
  })
  k8sJob.static_configs = [
    // the deployment's annotations, with the port of this test server instead of 8080
    { targets: [`${host}:9`], labels: meta({ ...annotations, 'prometheus.io/port': port }, { __meta_kubernetes_pod_name: 'switchyard-0' }) },
    // a pod without the scrape annotation is dropped
    { targets: [`${host}:9`], labels: meta({}, { __meta_kubernetes_pod_name: 'unannotated-0' }) }
  ]
  t.equal(annotations['prometheus.io/port'], String(deployment.spec.template.spec.containers[0].ports[0].containerPort), 'prometheus.io/port is the container port')

  const dir = mkdtempSync(join(tmpdir(), 'switchyard-prometheus-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
    rule_files: [repoPath('docker/prometheus/alerts.yml')],
    scrape_configs: [composeJob, k8sJob]
  }
  const configFile = join(dir, 'prometheus.yml')
  writeFileSync(configFile, toYaml(config))
  const check = run(promtool, ['check', 'config', configFile])
  t.equal(check.status, 0, 'promtool accepts the test config built from the shipped jobs', { output: check.out })

  const webPort = await freePort()
  const base = `http://127.0.0.1:${webPort}`
  let log = ''
  const child: ChildProcess = spawn(prometheus, [
    `--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`, '--log.level=warn'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout!.on('data', (b: Buffer) => { log += b.toString() })
  child.stderr!.on('data', (b: Buffer) => { log += b.toString() })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  })
  const get = async (path: string): Promise<any> => {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${log.slice(-2000)}`)
    const res = await fetch(`${base}${path}`)
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`)
    return await res.json()
  }
  const query = async (expr: string): Promise<{ status: string, data: { resultType: string, result: Array<{ metric: Record<string, string>, value: [number, string] }> }, error?: string }> => {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`)
    return await res.json() as any
  }

  await waitFor('prometheus to be ready', 30_000, async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${log.slice(-2000)}`)
    const res = await fetch(`${base}/-/ready`)
    return res.ok ? true : undefined
  })
  const targets = await waitFor('both targets to be scraped and up', 30_000, async () => {
    const r = await get('/api/v1/targets')
    const active = r.data.activeTargets as Array<{ labels: Record<string, string>, health: string, lastError: string }>
    return active.length === 2 && active.every((a) => a.health === 'up') ? r.data : undefined
  })
  t.same(targets.activeTargets.map((a: any) => a.labels.job).sort(), ['kubernetes-pods', 'switchyard'], 'one target per shipped job')
  t.ok(targets.droppedTargets.some((d: any) => d.discoveredLabels.__meta_kubernetes_pod_name === 'unannotated-0'), 'the pod without prometheus.io/scrape was dropped')

  const up = await waitFor('up == 1 for both jobs', 30_000, async () => {
    const r = await query('up')
    return r.data.result.length === 2 && r.data.result.every((s) => s.value[1] === '1') ? r.data.result : undefined
  })
  t.equal(up.length, 2, 'up is 1 for the compose and the Kubernetes job')

  const counts = await waitFor('switchyard_request_duration_seconds_count samples', 30_000, async () => {
    const r = await query('switchyard_request_duration_seconds_count')
    return r.data.result.length > 0 ? r.data.result : undefined
  })
  // series of device × policy combinations no request used exist too, at 0 (exported from the
  // first scrape): each job must have counted the requests it served somewhere
  const jobs = new Set(counts.map((s) => s.metric.job))
  t.ok(jobs.size === 2 && [...jobs].every((job) => counts.some((s) => s.metric.job === job && Number(s.value[1]) > 0)), 'the request histogram counted the requests, in each job')
  t.ok(counts.some((s) => s.metric.service === 'switchyard'), 'compose job: the DNS name became the service label')
  t.ok(counts.some((s) => s.metric.namespace === 'switchyard-test' && s.metric.pod === 'switchyard-0'), 'Kubernetes job: namespace and pod labels from the pod')
  t.ok(counts.some((s) => s.metric.app_kubernetes_io_name === podLabels['app.kubernetes.io/name']), 'Kubernetes job: pod labels mapped')

  // rate() over a 1m window needs two samples of a series in it. Every series exists before
  // Prometheus starts (the requests above were served first), so each successful scrape of a
  // target adds one sample to each of its series: wait until each target has two successful
  // scrapes in the last minute (however long that takes on this machine), not for a fixed time.
  await waitFor('two successful scrapes of each target within the last minute', 60_000, async () => {
    const r = await query('sum by (job) (sum_over_time(up[1m]))')
    return r.data.result.length === 2 && r.data.result.every((s) => Number(s.value[1]) >= 2) ? true : undefined
  })

  const series = await get(`/api/v1/series?match[]=${encodeURIComponent(adapterRule.seriesQuery)}`)
  t.ok(series.data.length > 0, `the adapter's seriesQuery finds series: ${adapterRule.seriesQuery}`)
  const adapterQuery = renderAdapterQuery(adapterRule.metricsQuery, 'namespace="switchyard-test",pod=~"switchyard-0"', 'pod')
  const perPod = await query(adapterQuery)
  t.equal(perPod.status, 'success', `adapter metricsQuery evaluates: ${adapterQuery}`)
  t.same(perPod.data.result.map((s) => s.metric), [{ pod: 'switchyard-0' }], 'one value per pod, labelled by pod, as the HPA reads it')
  t.ok(Number.isFinite(Number(perPod.data.result[0]?.value[1])), 'a number')

  for (const { where, expr } of queries) {
    const promql = grafanaToPromql(expr)
    const r = await query(promql)
    t.equal(r.status, 'success', `${where} evaluates: ${promql}${r.error ? ` (${r.error})` : ''}`)
    const metrics = analysePromql(promql).metrics
    if (metrics.every((m) => (cat.family.get(m)?.samples ?? 0) > 0)) t.ok(r.data.result.length > 0, `${where} returns series`)
  }
  for (const v of variableQueries) {
    if (v.selector === null || v.label === null) continue
    const r = await get(`/api/v1/label/${v.label}/values?match[]=${encodeURIComponent(grafanaToPromql(v.selector))}`)
    t.ok(r.data.length > 0, `${v.where} has values: ${r.data.join(', ')}`)
  }

  const groups = await waitFor('the alert rules to be evaluated', 20_000, async () => {
    const r = await get('/api/v1/rules')
    const rules = (r.data.groups as Array<{ rules: Array<{ name: string, health: string, lastError?: string }> }>).flatMap((g) => g.rules)
    return rules.length === alerts.length && rules.every((x) => x.health !== 'unknown') ? rules : undefined
  })
  for (const r of groups) t.equal(r.health, 'ok', `alert ${r.name} evaluates${r.lastError ? `: ${r.lastError}` : ''}`)
})
