// The GPU check's verdicts: a CUDA answer passes parity with the CPU reference when the top-1
// class is the same and scores are within 1e-2, and a detection set when every reference box
// has a same-class partner within 1 px and 1e-2 — nothing more, nothing less.
import t from 'tap'
import { cardSlug, compareClassify, compareDetect, type Detection, type Prediction } from './gpu-parity.js'

const ref: Prediction[] = [
  { index: 249, label: 'malamute', score: 0.7638 },
  { index: 248, label: 'husky', score: 0.15 },
  { index: 250, label: 'siberian husky', score: 0.05 }
]
const shifted = (d: number): Prediction[] => ref.map((p) => ({ ...p, score: p.score + d }))

t.test('classify: the same answer within 1e-2 passes', async (t) => {
  t.match(compareClassify(ref, ref), { top1Equal: true, maxScoreDiff: 0, pass: true })
  t.match(compareClassify(ref, shifted(0.009)), { top1Equal: true, pass: true })
})

t.test('classify: a score off by more than 1e-2 fails, top-1 still equal', async (t) => {
  t.match(compareClassify(ref, shifted(-0.02)), { top1Equal: true, maxScoreDiff: 0.02, pass: false })
})

t.test('classify: another top-1 fails', async (t) => {
  const swapped = [ref[1]!, ref[0]!, ref[2]!]
  t.match(compareClassify(ref, swapped), { top1Equal: false, pass: false })
})

t.test('classify: a reference class missing from the answer counts as score 0', async (t) => {
  const r = compareClassify(ref, ref.slice(0, 2))
  t.equal(r.maxScoreDiff, 0.05)
  t.equal(r.pass, false)
})

const box = (x1: number, y1: number, x2: number, y2: number): Detection['box'] => ({ x1, y1, x2, y2 })
const dets: Detection[] = [
  { index: 16, label: 'dog', score: 0.9, box: box(100, 200, 300, 500) },
  { index: 1, label: 'bicycle', score: 0.8, box: box(120, 130, 560, 420) }
]

t.test('detect: the same boxes in another order, moved under 1 px, pass', async (t) => {
  const got = [{ ...dets[1]!, box: box(120.6, 130, 560, 419.5) }, { ...dets[0]!, score: 0.905 }]
  t.match(compareDetect(dets, got), { count: '2 vs cpu 2', maxBoxDiffPx: 0.6, unmatched: [], pass: true })
})

t.test('detect: a box moved by more than 1 px fails', async (t) => {
  const got = [dets[0]!, { ...dets[1]!, box: box(122, 130, 560, 420) }]
  t.match(compareDetect(dets, got), { maxBoxDiffPx: 2, pass: false })
})

t.test('detect: a score off by more than 1e-2 fails', async (t) => {
  t.match(compareDetect(dets, [dets[0]!, { ...dets[1]!, score: 0.78 }]), { maxScoreDiff: 0.02, pass: false })
})

t.test('detect: a missing box, or one of another class, is unmatched; an extra box fails the count', async (t) => {
  t.match(compareDetect(dets, [dets[0]!]), { unmatched: ['bicycle 0.80'], pass: false })
  t.match(compareDetect(dets, [dets[0]!, { ...dets[1]!, index: 2, label: 'car' }]), { unmatched: ['bicycle 0.80'], pass: false })
  const extra = [...dets, { index: 0, label: 'person', score: 0.4, box: box(0, 0, 10, 10) }]
  t.match(compareDetect(dets, extra), { count: '3 vs cpu 2', unmatched: [], pass: false })
})

t.test('card names become file-name slugs', async (t) => {
  t.equal(cardSlug('NVIDIA H100 80GB HBM3'), 'h100-80gb-hbm3')
  t.equal(cardSlug('NVIDIA H200'), 'h200')
  t.equal(cardSlug('Tesla T4'), 'tesla-t4')
  t.equal(cardSlug('  '), 'gpu')
})
