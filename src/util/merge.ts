// Deep merge of plain JSON objects: objects merge key by key, anything else (arrays included)
// is replaced. Config files, environment overrides and test configs all layer this way.
export type Json = Record<string, unknown>

export function deepMerge (base: Json, over: Json): Json {
  const out: Json = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const b = out[k]
    out[k] = isPlainObject(v) && isPlainObject(b) ? deepMerge(b, v) : v
  }
  return out
}

export function isPlainObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
