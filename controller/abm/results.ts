/**
 * An activity's per-serial result file: the CSV Apple links from `downloadUrl` once the activity is done.
 * Apple does not document its columns, so the header is read by name: the column whose name mentions
 * "serial" is the serial number, one mentioning "status" or "result" the outcome, and one mentioning
 * "message", "error", "reason" or "detail" the explanation. A file without a recognisable header is an
 * `AbmProtocolError` rather than a guess.
 */
import { parse } from 'csv-parse/sync';
import { AbmProtocolError } from './errors.js';
import type { ActivityDeviceResult } from './types.js';

/** Largest result file read: a 1000-device activity's CSV is well under 100 KiB. */
export const MAX_RESULT_CSV_BYTES = 8 * 1024 * 1024;

function column(header: string[], test: RegExp, not?: number): number {
  return header.findIndex((h, i) => i !== not && test.test(h));
}

/** Parses a result CSV into one entry per serial. */
export function parseActivityResultsCsv(endpoint: string, text: string): ActivityDeviceResult[] {
  let rows: string[][];
  try {
    rows = parse(text.replace(/^\uFEFF/, ''), { relax_column_count: true, skip_empty_lines: true, trim: true }) as string[][];
  } catch {
    throw new AbmProtocolError(endpoint, 'the activity result file is not CSV');
  }
  const [header, ...body] = rows;
  if (header === undefined) return [];
  const serialCol = column(header, /serial/i);
  const statusCol = column(header, /status|result/i, serialCol);
  const messageCol = column(header, /message|error|reason|detail/i, serialCol);
  if (serialCol < 0 || statusCol < 0) {
    throw new AbmProtocolError(endpoint, `the activity result file has no serial and status columns (header: ${header.slice(0, 8).join(', ').slice(0, 200)})`);
  }
  const out: ActivityDeviceResult[] = [];
  for (const row of body) {
    const serial = row[serialCol] ?? '';
    if (serial === '') continue;
    const r: ActivityDeviceResult = { serial, status: row[statusCol] ?? '' };
    const message = messageCol >= 0 && messageCol !== statusCol ? row[messageCol] : undefined;
    if (message !== undefined && message !== '') r.message = message;
    out.push(r);
  }
  return out;
}
