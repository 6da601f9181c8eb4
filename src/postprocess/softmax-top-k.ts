// Classifier output: logits → softmax probabilities → the k best, highest first.
import type { Prediction } from './types.js'

export function softmaxTopK (logits: Float32Array, labels: readonly string[], k: number): Prediction[] {
  let max = -Infinity
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!
  let sum = 0
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max)
  // selection of the k largest logits (k is small; softmax is monotonic)
  const n = Math.min(k, logits.length)
  const top: number[] = []
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!
    if (top.length === n && v <= logits[top[n - 1]!]!) continue
    let j = top.length < n ? top.length : n - 1
    while (j > 0 && logits[top[j - 1]!]! < v) { top[j] = top[j - 1]!; j-- }
    top[j] = i
  }
  return top.map((index) => ({
    label: labels[index] ?? String(index),
    index,
    score: Math.exp(logits[index]! - max) / sum
  }))
}
