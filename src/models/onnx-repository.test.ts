// The models directory as the repository reads it: versions as directories, the flat layout as
// version 1, configured models' directories left out, and the version policy.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { scanRepository, selectVersions } from './onnx-repository.js'

t.test('layouts: versions, flat, problems, exclusions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-scan-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const put = (path: string, text = 'x'): void => { mkdirSync(join(dir, path, '..'), { recursive: true }); writeFileSync(join(dir, path), text) }
  put('versioned/1/model.onnx')
  put('versioned/10/model.onnx', 'xx')
  put('versioned/notes/readme.txt')
  put('flat/other-name.onnx')
  put('empty-version/3/README')
  put('two-files/1/a.onnx')
  put('two-files/1/b.onnx')
  put('configured/model.onnx')
  put('no-model/README')
  put('Upper/model.onnx')
  const found = await scanRepository(dir, new Set(['configured']))
  t.same([...found.keys()], ['empty-version', 'flat', 'two-files', 'versioned'], 'configured, invalid names and directories without a model are left out')
  t.same(found.get('versioned')!.versions.map((v) => [v.version, v.bytes, v.problem]), [[1, 1, null], [10, 2, null]], 'numbered directories are versions, in numeric order')
  t.same(found.get('flat')!.versions.map((v) => [v.version, v.file?.endsWith('other-name.onnx')]), [[1, true]], 'the flat layout is version 1; one .onnx file of any name')
  t.match(found.get('empty-version')!.versions[0]!.problem, /no model\.onnx/)
  t.match(found.get('two-files')!.versions[0]!.problem, /several \.onnx files/)
  const before = found.get('versioned')!.versions[0]!.signature
  put('versioned/1/model.onnx', 'changed')
  t.not((await scanRepository(dir, new Set()))!.get('versioned')!.versions[0]!.signature, before, 'a changed file changes the signature')
  t.same(await scanRepository(join(dir, 'missing'), new Set()), new Map(), 'no directory: no models')
})

t.test('version policy', async (t) => {
  t.same(selectVersions([3, 1, 2], { latest: 1 }), [3])
  t.same(selectVersions([3, 1, 2], { latest: 2 }), [2, 3])
  t.same(selectVersions([3, 1, 2], { latest: 5 }), [1, 2, 3])
  t.same(selectVersions([3, 1, 2], { specific: [1, 4] }), [1], 'only versions that exist')
  t.same(selectVersions([3, 1, 2], { all: true }), [1, 2, 3])
  t.same(selectVersions([], { latest: 1 }), [])
})
