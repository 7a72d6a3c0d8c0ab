/**
 * `Date.parse` remembering its last answer. Apple gives `op_date` to the second, and the events of one change
 * (an assign of a thousand devices) share it, so consecutive events mostly carry the same text: a million sync
 * events parsed twice each (the merge, then the store's column) cost about 0.6 s of CPU, against 0.1 s with this
 * one-entry memory (`.scratch/shape-micro.mjs`, issue 11).
 */
let lastText: string | undefined;
let lastMs = Number.NaN;

/** `Date.parse(text)`: epoch milliseconds, or NaN when the text is not a date. */
export function parseInstant(text: string): number {
  if (text === lastText) return lastMs;
  const ms = Date.parse(text);
  lastText = text;
  lastMs = ms;
  return ms;
}
