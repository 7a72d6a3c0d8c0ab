/** Helpers of the shape checks of Apple's answers (dep/shapes.ts, abm/shapes.ts). */

/** A JSON object (not null, not a list). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a JSON value is, for a message: `nothing`, `null`, `a list`, `an object`, `a string`… */
export function describeJson(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
