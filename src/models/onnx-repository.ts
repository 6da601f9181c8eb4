// What the models directory holds for the model repository: plain ONNX models (no model.json)
// and their versions. Layout, under the directory (`modelRepository.dir`, default
// `models.localDir`):
//
//   <model>/<version>/model.onnx    a version: a directory named by a whole number ≥ 1
//   <model>/model.onnx              the flat layout: version 1
//
// A version directory holds `model.onnx`, or exactly one `*.onnx` file. Directories that hold
// a configured model's weights (models with a model.json) are not plain models and are left
// out. A version's signature (its files' names, sizes and modification times) tells a reload
// whether it changed. Which versions are served is the version policy's (`selectVersions`).
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

export const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/
export const VERSION_DIR = /^[1-9][0-9]{0,8}$/

export interface ScannedVersion {
  version: number
  dir: string
  /** the ONNX file; null when the directory has none, or several (then `problem` says so) */
  file: string | null
  bytes: number
  signature: string
  problem: string | null
}

export interface ScannedModel { name: string, dir: string, versions: ScannedVersion[] }

export type VersionPolicy = { latest: number } | { specific: number[] } | { all: true }

/** Every plain model under `root`, versions ascending; `exclude`: directory names that are not plain models. */
export async function scanRepository (root: string, exclude: ReadonlySet<string>): Promise<Map<string, ScannedModel>> {
  const out = new Map<string, ScannedModel>()
  let names: string[]
  try {
    names = (await readdir(root)).sort()
  } catch {
    return out
  }
  for (const name of names) {
    if (!MODEL_NAME.test(name) || exclude.has(name)) continue
    const m = await scanModel(root, name)
    if (m !== null) out.set(name, m)
  }
  return out
}

/** One model directory; null when it is not one (not a directory, or no ONNX file and no versions). */
export async function scanModel (root: string, name: string): Promise<ScannedModel | null> {
  const dir = join(root, name)
  const entries = await list(dir)
  if (entries === null) return null
  const versions: ScannedVersion[] = []
  for (const e of entries) {
    if (e.dir && VERSION_DIR.test(e.name)) versions.push(await scanVersion(join(dir, e.name), Number(e.name)))
  }
  if (versions.length === 0) {
    if (!entries.some((e) => !e.dir && e.name.endsWith('.onnx'))) return null
    versions.push(await scanVersion(dir, 1)) // the flat layout
  }
  versions.sort((a, b) => a.version - b.version)
  return { name, dir, versions }
}

async function scanVersion (dir: string, version: number): Promise<ScannedVersion> {
  const entries = (await list(dir)) ?? []
  const files = entries.filter((e) => !e.dir)
  const onnx = files.filter((e) => e.name.endsWith('.onnx'))
  const chosen = onnx.find((e) => e.name === 'model.onnx') ?? (onnx.length === 1 ? onnx[0] : undefined)
  const signature = files.map((e) => `${e.name}:${e.size}:${e.mtimeMs}`).join('|')
  const problem = chosen !== undefined ? null : onnx.length === 0 ? `no model.onnx in ${dir}` : `several .onnx files and no model.onnx in ${dir}`
  return { version, dir, file: chosen ? join(dir, chosen.name) : null, bytes: chosen?.size ?? 0, signature, problem }
}

async function list (dir: string): Promise<Array<{ name: string, dir: boolean, size: number, mtimeMs: number }> | null> {
  let names: string[]
  try {
    if (!(await stat(dir)).isDirectory()) return null
    names = (await readdir(dir)).sort()
  } catch {
    return null
  }
  const out = []
  for (const name of names) {
    try {
      const s = await stat(join(dir, name)) // follows links: a linked model directory counts
      out.push({ name, dir: s.isDirectory(), size: s.size, mtimeMs: s.mtimeMs })
    } catch { /* vanished meanwhile */ }
  }
  return out
}

/** The versions a policy serves, ascending: the newest n, the ones named that exist, or all. */
export function selectVersions (available: readonly number[], policy: VersionPolicy): number[] {
  const sorted = [...available].sort((a, b) => a - b)
  if ('all' in policy) return sorted
  if ('specific' in policy) return sorted.filter((v) => policy.specific.includes(v))
  return sorted.slice(Math.max(0, sorted.length - policy.latest))
}
