// The helpers the deployment tests stand on: if these are wrong, the checks built on them
// pass or fail for the wrong reason.
import t from 'tap'
import { analysePromql, catalogue, dockerignore, grafanaToPromql, interpolate, parseCopy, parseDockerfile, stageEnv } from './support.js'

t.test('.dockerignore rules: the last matching rule wins, a directory rule covers its files', async (t) => {
  const ignored = dockerignore('# comment\n*\n!package.json\n!src/\n!models/\nsrc/**/*.test.ts\nsrc/test-support/\n!src/test-support/keep.ts\n')
  t.ok(ignored('README.md'))
  t.ok(ignored('node_modules/x/index.js'))
  t.notOk(ignored('package.json'))
  t.notOk(ignored('src'))
  t.notOk(ignored('src/app.ts'))
  t.notOk(ignored('src/http/routes/infer.ts'))
  t.ok(ignored('src/app.test.ts'))
  t.ok(ignored('src/http/routes/infer.test.ts'), '** spans directories')
  t.ok(ignored('src/test-support/server.ts'))
  t.notOk(ignored('src/test-support/keep.ts'), 'a later exception re-includes')
  t.notOk(ignored('./models/yolox-nano/model.json'), 'a leading ./ is the context root')
})

t.test('compose interpolation', async (t) => {
  const env = { SET: 'v', EMPTY: '' }
  t.equal(interpolate('${SET:-d} ${EMPTY:-d} ${UNSET:-d}', env), 'v d d')
  t.equal(interpolate('${SET-d} ${EMPTY-d} ${UNSET-d}', env), 'v  d')
  t.equal(interpolate('${SET}/${UNSET}', env), 'v/')
  t.equal(interpolate('${PORT:-8080}:8080'), '8080:8080')
})

t.test('Dockerfile parsing', async (t) => {
  const stages = parseDockerfile([
    '# syntax=docker/dockerfile:1',
    'ARG BASE=node:20',
    'FROM ${BASE} AS build',
    'ENV A=1 \\',
    '    # a comment inside a continuation',
    '    B="two words" \\',
    '    C=3',
    'RUN echo one \\',
    '  && echo two',
    'FROM --platform=linux/amd64 scratch',
    'COPY --from=build --chown=1000:1000 /app/dist ./dist',
    'COPY ["a b", "c", "/dest/"]'
  ].join('\n'))
  t.same(stages.map((s) => [s.name, s.from]), [['build', '${BASE}'], [null, 'scratch']])
  t.same(stageEnv(stages[0]!), { A: '1', B: 'two words', C: '3' })
  t.match(stages[0]!.instructions.find((i) => i.cmd === 'RUN')!.args, /echo one\s+&& echo two/)
  t.equal(stages[0]!.instructions[1]!.line, 8, 'instructions keep their first line number')
  t.same(parseCopy(stages[1]!.instructions[0]!.args), { from: 'build', sources: ['/app/dist'], dest: './dist' })
  t.same(parseCopy(stages[1]!.instructions[1]!.args), { from: null, sources: ['a b', 'c'], dest: '/dest/' })
})

t.test('Grafana variables become PromQL', async (t) => {
  t.equal(grafanaToPromql('rate(x{a=~"$a",b=~"${b}",c=~"[[c]]",d=~"${d:regex}"}[$__rate_interval])'), 'rate(x{a=~".*",b=~".*",c=~".*",d=~".*"}[1m])')
  t.same(analysePromql(grafanaToPromql('sum by (le) (rate(x_bucket[$__interval]))')).errors, [])
})

t.test('the metric catalogue of a text exposition', async (t) => {
  const cat = catalogue([
    '# HELP h_seconds help',
    '# TYPE h_seconds histogram',
    'h_seconds_bucket{le="0.1",device="cpu",model="m"} 1',
    'h_seconds_bucket{le="+Inf",device="cpu",model="m"} 2',
    'h_seconds_sum{device="cpu",model="m"} 0.3',
    'h_seconds_count{device="cpu",model="m"} 2',
    '# TYPE c_total counter',
    '# TYPE g gauge',
    'g{path="a\\"b,c=\\"d"} 1',
    'untyped_thing 4',
    ''
  ].join('\n'))
  t.same([...cat.series.get('h_seconds_bucket')!].sort(), ['device', 'le', 'model'])
  t.same([...cat.series.get('h_seconds_count')!].sort(), ['device', 'model'])
  t.equal(cat.series.has('h_seconds'), false, 'a classic histogram has no series under its base name')
  t.same(cat.family.get('h_seconds_sum'), { name: 'h_seconds', type: 'histogram', samples: 1 })
  t.same(cat.family.get('c_total'), { name: 'c_total', type: 'counter', samples: 0 }, 'a counter without samples is known from # TYPE')
  t.same([...cat.series.get('g')!], ['path'], 'escaped quotes in label values')
  t.equal(cat.family.get('untyped_thing')?.type, 'untyped')
})
