// The background decoder's cost (jobs.decodeNice, src/preprocess/decode-process.ts):
//   npm run bench:decode-process → bench/results/decode-process.{md,json}
// The five job photos decoded for the classifier 200 times in the server process and 200 times
// in the decoder's child process (nice 0 here: the cost of the process boundary, not of the
// priority), one at a time and two at a time, alternated twice. CPU per image: this process's
// (process.cpuUsage) plus the child's (/proc/<pid>/stat, Linux; clock ticks of 10 ms).
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { decodeImage } from '../src/preprocess/decode-image.js'
import { DecodeProcess } from '../src/preprocess/decode-process.js'
import { REPO, SHARED_IMAGES } from '../src/test-support/server.js'

const N = 200
const classifier = { input: { name: 'input', width: 224, height: 224, channelOrder: 'RGB' as const }, preprocess: { resize: { mode: 'center-crop' as const, shorterSide: 256 }, scale: 1 / 255, mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] } }
const limits = { maxPixels: 40_000_000, maxDimension: 16384, formats: ['png', 'jpeg'] }
const photos = ['dog.jpg', 'eagle.jpg', 'horses.jpg', 'person.jpg', 'scream.jpg'].map((p) => readFileSync(join(SHARED_IMAGES, p)))
const childCpuMs = (pid: number): number => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10 }

interface Row { where: 'server process' | 'child process', atOnce: number, round: number, wallMsPerImage: number, cpuMsPerImage: number, serverCpuMsPerImage: number }
const rows: Row[] = []
for (let round = 1; round <= 2; round++) {
  for (const atOnce of [1, 2]) {
    for (const where of ['server process', 'child process'] as const) {
      const d = new DecodeProcess(0, { warn: (o, m) => console.error(m, o), info: () => {} })
      if (where === 'child process') await d.decode(photos[0]!, classifier, limits) // started
      const c0 = process.cpuUsage(); const k0 = where === 'child process' ? childCpuMs(d.pid!) : 0; const t0 = performance.now()
      let next = 0
      const lane = async (): Promise<void> => { while (next < N) { const i = next++; await (where === 'server process' ? decodeImage(photos[i % photos.length]!, classifier, limits) : d.decode(photos[i % photos.length]!, classifier, limits)) } }
      await Promise.all(Array.from({ length: atOnce }, lane))
      const wall = performance.now() - t0; const c = process.cpuUsage(c0); const k = where === 'child process' ? childCpuMs(d.pid!) - k0 : 0
      await d.close()
      const server = (c.user + c.system) / 1000 / N
      rows.push({ where, atOnce, round, wallMsPerImage: wall / N, cpuMsPerImage: server + k / N, serverCpuMsPerImage: server })
    }
  }
}
const mean = (where: Row['where'], atOnce: number, f: (r: Row) => number): number => { const rs = rows.filter((r) => r.where === where && r.atOnce === atOnce); return rs.reduce((a, r) => a + f(r), 0) / rs.length }
const f1 = (x: number): string => x.toFixed(2)
const md = [
  '# The background decoder\'s cost (jobs.decodeNice)',
  '',
  `Command: \`npm run bench:decode-process\`. Machine: ${cpus().length} cores (${cpus()[0]?.model ?? ''}), Node ${process.version}, shared with other work. The five job photos (bench/jobs.ts) decoded for the classifier (resized, shorter side 256) ${N} times per row, in this process (decode-image.ts) or in the background decoder's child at nice 0 (the process boundary's cost, not the priority's), one or two at a time, alternated twice. CPU: this process's plus the child's.`,
  '',
  '| where | at once | round | wall ms per image | CPU ms per image (both processes) | of it, the server process |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.where} | ${r.atOnce} | ${r.round} | ${f1(r.wallMsPerImage)} | ${f1(r.cpuMsPerImage)} | ${f1(r.serverCpuMsPerImage)} |`),
  '',
  ...[1, 2].map((n) => `- ${n} at a time: CPU per image ${f1(mean('child process', n, (r) => r.cpuMsPerImage))} ms in the child against ${f1(mean('server process', n, (r) => r.cpuMsPerImage))} ms here (**+${f1(mean('child process', n, (r) => r.cpuMsPerImage) - mean('server process', n, (r) => r.cpuMsPerImage))} ms**, ×${(mean('child process', n, (r) => r.cpuMsPerImage) / mean('server process', n, (r) => r.cpuMsPerImage)).toFixed(2)}); the server process's own share with the child: ${f1(mean('child process', n, (r) => r.serverCpuMsPerImage))} ms (the IPC: the bytes out, the pixels back); wall ${f1(mean('child process', n, (r) => r.wallMsPerImage))} against ${f1(mean('server process', n, (r) => r.wallMsPerImage))} ms per image.`),
  ''
].join('\n')
writeFileSync(join(REPO, 'bench/results/decode-process.md'), md)
writeFileSync(join(REPO, 'bench/results/decode-process.json'), JSON.stringify({ images: N, rows }, null, 2) + '\n')
process.stdout.write(md)
