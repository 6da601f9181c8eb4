// The simulator's command line (issue 9). Runs the server's own router, device schedulers,
// batcher, cost model, admission control and decode gate on a virtual clock, with simulated
// executors whose batch times come from device profiles (bench/profiles/*.json).
//
//   npm run simulate -- <scenario> [...]        bench/scenarios/<scenario>.json → tables on stdout,
//                                               bench/results/sim-<scenario>.{json,svg}
//   npm run simulate -- all                     every scenario, and bench/results/simulate.md
//   npm run simulate -- wall                    wall time of 10 simulated minutes at 1,000 req/s
//   npm run simulate -- profile --url http://127.0.0.1:8080 --out bench/profiles/cpu-here.json [--profile-samples 40] [--client-burst 5]
//   npm run simulate -- plan --profile gpu-t4-assumed --profile cpu-here --rate 2000 --slo 100
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { measureProfile } from '../src/sim/measure-profile.js'
import { clientArgs, main, samplingArgs } from '../src/sim/cli.js'

const argv = process.argv.slice(2)
if (argv[0] === 'profile') {
  const { values } = parseArgs({
    args: argv.slice(1),
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      out: { type: 'string', default: 'bench/profiles/cpu-here.json' },
      name: { type: 'string' },
      image: { type: 'string', default: join(process.env.SWITCHYARD_SHARED_DIR ?? '/work/shared', 'images', 'dog.jpg') },
      // sequential latency-class requests per model: at least --profile-samples (--sequential: its
      // old name), more until each median is within ±--profile-precision (src/sim/measure-profile.ts)
      'profile-samples': { type: 'string' },
      sequential: { type: 'string' },
      'profile-max-samples': { type: 'string' },
      'profile-precision': { type: 'string' },
      'profile-warmup': { type: 'string' },
      // the open-loop burst measuring the load client's CPU per request (s per model; 0: none), its rate
      'client-burst': { type: 'string' },
      'client-rate': { type: 'string' },
      burst: { type: 'string', default: '160' },
      concurrency: { type: 'string', default: '8' },
      'latency-workers': { type: 'string', default: 'cpu=1' },
      jitter: { type: 'string', default: '0.1' }
    }
  })
  const latencyWorkers = Object.fromEntries(values['latency-workers'].split(',').filter(Boolean).map((kv) => { const [k, v] = kv.split('='); return [k!, Number(v)] }))
  const name = values.name ?? values.out.split('/').pop()!.replace(/\.json$/, '')
  const profile = await measureProfile({
    url: values.url.replace(/\/$/, ''),
    name,
    image: values.image,
    ...samplingArgs({ ...values, 'profile-samples': values['profile-samples'] ?? values.sequential }),
    ...clientArgs(values),
    burst: Number(values.burst),
    concurrency: Number(values.concurrency),
    latencyWorkers,
    jitter: Number(values.jitter),
    command: `npm run simulate -- profile ${argv.slice(1).join(' ')}`.trim()
  }, (s) => process.stderr.write(`${s}\n`))
  writeFileSync(values.out, `${JSON.stringify(profile, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(profile, null, 2)}\nwrote ${values.out}\n`)
} else {
  await main(argv)
}
