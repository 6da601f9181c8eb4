// Small formatting helpers shared by the HTTP answers, logs and reports: declared once.

/** Rounds to `digits` decimals (default 2): for answers, logs and reports, never for arithmetic. */
export function round (v: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

/** Shortens a client-supplied string before it is echoed in an error message or a log line. */
export function clip (s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s
}
