// ../shared/models/EXPECTED.json and its tolerances, as assertions. What is asserted where:
//
// The classifier is int8 (QLinearConv), and onnxruntime's int8 kernels differ by CPU. The
// reference was produced with AVX-512 VNNI. On AVX2-only CPUs onnxruntime uses u8s8
// multiply-adds (VPMADDUBSW) that saturate on this model, which was quantised without
// reduce_range, so the logits move: dog.jpg malamute 0.674 (VNNI) vs 0.766 (AVX2), and
// person.jpg's top-1 changes. Same bytes, same pipeline. So, for the int8 model:
//  - everywhere: the server equals an independent implementation of MODEL.md run in the test
//    process (src/test-support/reference-classifier.ts: top-5 indices identical, scores within
//    1e-4): the server adds nothing to what the kernels compute;
//  - with VNNI: EXPECTED.json's exact-pipeline tolerance (same top-1, top-5 scores ±0.02);
//  - without: EXPECTED.json's guidance for a pipeline that is not the reference one ("only
//    assert on images where top1StableAcrossResizeKernels is true (top-1 label must match) and
//    on at least 3 of the top-5 indices; scores can move by ~0.15"), on the images whose top-1
//    is also robust to the int8 rounding itself: the float32 variant (the same network without
//    activation rounding, EXPECTED.json key mobilenetv2-12-fp32) has the same top-1. That
//    leaves dog, eagle and giraffe; person.jpg (int8 llama, fp32 clumber) and kite.jpg are the
//    ones whose top-1 a change in int8 arithmetic can flip, and horses/scream are unstable.
// Exactness that does not depend on the CPU comes from the float32 variant, whose scores are
// reproducible across x86 CPUs to about 1e-4: checkFp32Classification holds the server (and the
// reference implementation) to EXPECTED.json's own tolerance for it, same top-5 order and
// scores within 1e-3, on every CPU (src/http/routes/classify-fp32.test.ts).
// The detector is float32 and is held to the exact tolerance everywhere.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { iou, type Box } from '../postprocess/nms.js'
import { referenceTop5 } from './reference-classifier.js'
import { SHARED_IMAGES, SHARED_MODELS } from './server.js'

interface Top { index: number, label: string, score: number }
interface ExpectedDetection { classId: number, label: string, score: number, box: [number, number, number, number], required: boolean }
interface Expected {
  models: {
    'mobilenetv2-12-int8': { results: Record<string, { top5: Top[], top1StableAcrossResizeKernels: boolean }> }
    'mobilenetv2-12-fp32': { results: Record<string, { top5: Top[] }> }
    'yolox-nano': { results: Record<string, { width: number, height: number, detections: ExpectedDetection[] }> }
  }
}

export const EXPECTED = JSON.parse(readFileSync(join(SHARED_MODELS, 'EXPECTED.json'), 'utf8')) as Expected

/** true where onnxruntime's int8 kernels are those the reference was produced with */
export const INT8_MATCHES_REFERENCE = (() => {
  try {
    return /\bavx512_vnni\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))
  } catch {
    return false
  }
})()

export interface GotDetection { index: number, label: string, score: number, box: Box }

export async function checkClassification (t: Test, photo: string, predictions: Top[]): Promise<void> {
  const exp = EXPECTED.models['mobilenetv2-12-int8'].results[photo]!
  t.equal(predictions.length, 5, `${photo}: five predictions`)
  for (let i = 1; i < predictions.length; i++) t.ok(predictions[i - 1]!.score >= predictions[i]!.score, `${photo}: sorted by score`)
  for (const p of predictions) t.equal(p.label, LABELS[p.index], `${photo}: label of index ${p.index}`)

  const ref = await referenceTop5(join(SHARED_IMAGES, photo))
  t.same(predictions.map((p) => p.index), ref.map((r) => r.index), `${photo}: same top-5 as the reference pipeline`)
  const drift = Math.max(...ref.map((r, i) => Math.abs(r.score - (predictions[i]?.score ?? 0))))
  t.ok(drift <= 1e-4, `${photo}: scores within 1e-4 of the reference pipeline (${drift.toExponential(1)})`)

  const top1 = exp.top5[0]!
  if (INT8_MATCHES_REFERENCE) {
    t.equal(predictions[0]!.index, top1.index, `${photo}: top-1 is ${top1.label}`)
    for (const e of exp.top5) {
      const got = predictions.find((p) => p.index === e.index)
      t.ok(got, `${photo}: ${e.label} in top-5`)
      if (got) t.ok(Math.abs(got.score - e.score) <= 0.02, `${photo}: ${e.label} score ${got.score.toFixed(4)} ≈ ${e.score} ±0.02`)
    }
  } else if (int8Top1IsRobust(photo)) {
    t.equal(predictions[0]!.index, top1.index, `${photo}: top-1 is ${top1.label} (stable across resize kernels and int8/fp32)`)
    t.ok(Math.abs(predictions[0]!.score - top1.score) <= 0.15, `${photo}: top-1 score ${predictions[0]!.score.toFixed(4)} ≈ ${top1.score} ±0.15`)
    const shared = exp.top5.filter((e) => predictions.some((p) => p.index === e.index)).length
    t.ok(shared >= 3, `${photo}: ${shared} of EXPECTED.json's top-5 in the top-5 (at least 3)`)
  } else {
    t.comment(`${photo}: top-1 not asserted on this CPU (no AVX-512 VNNI; EXPECTED.json's top-1 is not stable here)`)
  }
}

/**
 * EXPECTED.json says the int8 top-1 is stable across resize kernels, and the float32 variant
 * agrees with it: a change of int8 arithmetic (another CPU's kernels) should not flip it either.
 */
export function int8Top1IsRobust (photo: string): boolean {
  const int8 = EXPECTED.models['mobilenetv2-12-int8'].results[photo]
  const fp32 = EXPECTED.models['mobilenetv2-12-fp32'].results[photo]
  return int8 !== undefined && fp32 !== undefined && int8.top1StableAcrossResizeKernels && int8.top5[0]!.index === fp32.top5[0]!.index
}

/** The float32 variant against EXPECTED.json's tolerance for it on an x86 CPU: same top-5 order, scores within 1e-3. */
export function checkFp32Classification (t: Test, photo: string, predictions: Array<{ index: number, score: number, label?: string }>): void {
  const exp = EXPECTED.models['mobilenetv2-12-fp32'].results[photo]!
  t.same(predictions.slice(0, 5).map((p) => p.index), exp.top5.map((e) => e.index), `${photo}: top-5 ${exp.top5.map((e) => e.label.split(',')[0]).join(', ')}, in that order`)
  const drift = Math.max(...exp.top5.map((e, i) => Math.abs(e.score - (predictions[i]?.score ?? 0))))
  t.ok(drift <= 1e-3, `${photo}: scores within 1e-3 of EXPECTED.json (${drift.toExponential(1)})`)
  for (const p of predictions) if (p.label !== undefined) t.equal(p.label, LABELS[p.index], `${photo}: label of index ${p.index}`)
}

const LABELS = readFileSync(join(SHARED_MODELS, 'mobilenetv2-12-int8/labels.txt'), 'utf8').split('\n')

export function checkDetections (t: Test, photo: string, got: { width: number, height: number, detections: GotDetection[] }): void {
  const exp = EXPECTED.models['yolox-nano'].results[photo]!
  t.equal(got.width, exp.width, `${photo}: width`)
  t.equal(got.height, exp.height, `${photo}: height`)
  for (const e of exp.detections) {
    const box = { x1: e.box[0], y1: e.box[1], x2: e.box[2], y2: e.box[3] }
    const match = got.detections.filter((d) => d.index === e.classId).sort((a, b) => iou(b.box, box) - iou(a.box, box))[0]
    if (!e.required) continue
    t.ok(match, `${photo}: ${e.label} ${e.score} found`)
    if (!match) continue
    t.ok(iou(match.box, box) >= 0.5, `${photo}: ${e.label} IoU ${iou(match.box, box).toFixed(3)} ≥ 0.5`)
    t.ok(Math.abs(match.score - e.score) <= 0.1, `${photo}: ${e.label} score ${match.score.toFixed(4)} ≈ ${e.score} ±0.1`)
    // the exact pipeline: boxes within a pixel (EXPECTED rounds to 0.1 px)
    const dmax = Math.max(Math.abs(match.box.x1 - box.x1), Math.abs(match.box.y1 - box.y1), Math.abs(match.box.x2 - box.x2), Math.abs(match.box.y2 - box.y2))
    t.ok(dmax <= 1, `${photo}: ${e.label} box within 1 px (off by ${dmax.toFixed(2)})`)
  }
  const allowed = new Set(exp.detections.map((e) => e.classId))
  for (const d of got.detections) {
    if (d.score >= 0.5) t.ok(allowed.has(d.index), `${photo}: confident ${d.label} ${d.score.toFixed(2)} is expected`)
    t.ok(d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= got.width && d.box.y2 <= got.height && d.box.x1 <= d.box.x2 && d.box.y1 <= d.box.y2, `${photo}: ${d.label} box inside the image`)
  }
}
