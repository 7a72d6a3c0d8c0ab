/**
 * Serial numbers: normalisation and the two file formats `serialFiles` accepts (a CSV exported from
 * Apple Business/School Manager, or one serial per line).
 */
import { parse as parseCsvText } from 'csv-parse/sync';

/**
 * Apple serial numbers are upper-case letters and digits: 11–12 characters for older devices, 10 for the
 * randomised serials since 2021; accessories and some older devices differ, so we accept 8–14.
 */
const SERIAL = /^[A-Z0-9]{8,14}$/;

/** Normalises a serial (trim, upper case); returns undefined when it cannot be a serial number. */
export function normaliseSerial(raw: string): string | undefined {
  const s = raw.trim().toUpperCase();
  return SERIAL.test(s) ? s : undefined;
}

/** Explains why a raw value is not a serial number. */
export function serialProblem(raw: string): string {
  const s = raw.trim();
  if (s === '') return 'empty serial number';
  if (/\s/.test(s)) return `"${s}" is not a serial number (it contains spaces; list one serial per item)`;
  if (!/^[A-Za-z0-9]+$/.test(s)) return `"${s}" is not a serial number (only letters and digits are allowed)`;
  return `"${s}" is not a serial number (expected 8 to 14 letters and digits, got ${s.length})`;
}

/** One serial read from a file, with its offset in the file's text. */
export interface SerialEntry {
  raw: string;
  offset: number;
}

/** The result of reading a serial file. */
export interface SerialFileContent {
  entries: SerialEntry[];
  /** The CSV column used, when the file was a CSV with a header. */
  column?: string;
  /** A problem with the file as a whole (e.g. a CSV without a serial column), at an offset. */
  problem?: { message: string; offset: number };
}

/** Header names that hold the serial in Apple Business/School Manager exports and common spreadsheets. */
const SERIAL_HEADER = /^(serial[ _-]?(number|no\.?)?|serialnumber|device serial( number)?|numéro de série|seriennummer)$/i;

/**
 * Reads a serial file. A first line with a comma, semicolon or tab is a CSV header: the column whose name
 * holds "serial" is used. Otherwise each non-empty line that does not start with `#` is one serial.
 */
export function parseSerialFile(text: string): SerialFileContent {
  // The first line that is neither blank nor a `#` comment decides the format.
  const first = text.split('\n', 50).map((l) => l.replace(/\r$/, '')).find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
  const delimiter = [',', ';', '\t'].find((d) => first.includes(d));
  if (delimiter !== undefined || SERIAL_HEADER.test(first.trim().replace(/^"|"$/g, ''))) {
    return parseCsv(text, delimiter ?? ',');
  }
  const entries: SerialEntry[] = [];
  let offset = 0;
  for (const line of text.split('\n')) {
    const content = line.replace(/\r$/, '');
    const trimmed = content.trim();
    if (trimmed !== '' && !trimmed.startsWith('#')) entries.push({ raw: trimmed, offset: offset + content.indexOf(trimmed) });
    offset += line.length + 1;
  }
  return { entries };
}

function parseCsv(text: string, delimiter: string): SerialFileContent {
  let rows: CsvRow[];
  try {
    rows = csvRows(text, delimiter);
  } catch (err) {
    const e = err as { message?: string; lines?: number };
    const line = typeof e.lines === 'number' ? e.lines : 1;
    return { entries: [], problem: { message: `not a readable CSV file: ${(e.message ?? String(err)).replace(/^Invalid \w+:\s*/, '')}`, offset: lineStart(text, line) } };
  }
  const header = rows[0];
  if (!header) return { entries: [] };
  const col = header.cells.findIndex((c) => SERIAL_HEADER.test(c.trim()));
  if (col === -1) {
    return {
      entries: [],
      problem: { message: `CSV header has no serial number column (found: ${header.cells.join(', ')})`, offset: 0 },
    };
  }
  const entries: SerialEntry[] = [];
  for (const row of rows.slice(1)) {
    if (row.cells.every((c) => c.trim() === '')) continue;
    const cell = row.cells[col];
    if (cell === undefined) {
      entries.push({ raw: '', offset: row.start });
      continue;
    }
    // The cell's own position, for file:line:col: its first occurrence in the record's text (a quoted cell
    // is found inside its quotes); the record's start when it cannot be found (an empty cell).
    const at = cell.trim() === '' ? -1 : text.indexOf(cell, row.start);
    entries.push({ raw: cell, offset: at !== -1 && at < row.end ? at : row.start });
  }
  return { entries, column: header.cells[col]?.trim() ?? 'serial' };
}

/** One CSV record: its cells and where its text starts and ends (character offsets into the file's text). */
interface CsvRow {
  cells: string[];
  start: number;
  end: number;
}

/**
 * RFC 4180 records (quoted fields, doubled quotes, any of CRLF/LF/CR, `#` comment lines) read by csv-parse.
 * csv-parse reports how many bytes each record consumed; those are turned into character offsets (the same
 * unless the file holds non-ASCII text) so that problems point at file:line:col.
 */
function csvRows(text: string, delimiter: string): CsvRow[] {
  const records = parseCsvText(text, {
    delimiter,
    info: true,
    comment: '#',
    comment_no_infix: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    record_delimiter: ['\r\n', '\n', '\r'],
  }) as unknown as { record: string[]; info: { bytes: number } }[];
  const ascii = Buffer.byteLength(text) === text.length;
  const bytes = ascii ? undefined : Buffer.from(text);
  const rows: CsvRow[] = [];
  let prevBytes = 0;
  let prevChars = 0;
  for (const { record, info } of records) {
    const end = bytes ? prevChars + bytes.subarray(prevBytes, info.bytes).toString('utf8').length : info.bytes;
    rows.push({ cells: record, start: firstContentOffset(text, prevChars, end), end });
    prevBytes = info.bytes;
    prevChars = end;
  }
  return rows;
}

/** The start of the first line in [from, to) that is neither blank nor a `#` comment (csv-parse skips those). */
function firstContentOffset(text: string, from: number, to: number): number {
  let i = from;
  while (i < to) {
    let eol = i;
    while (eol < to && text[eol] !== '\n' && text[eol] !== '\r') eol++;
    const line = text.slice(i, eol).trim();
    if (line !== '' && !line.startsWith('#')) return i;
    i = eol + 1;
  }
  return from;
}

/** The character offset where 1-based line `line` starts. */
function lineStart(text: string, line: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl === -1) return offset;
    offset = nl + 1;
  }
  return offset;
}
