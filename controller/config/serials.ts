/**
 * Serial numbers: normalisation and the two file formats `serialFiles` accepts (a CSV exported from
 * Apple Business/School Manager, or one serial per line).
 */

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
  const rows = csvRows(text, delimiter).filter((r) => !(r.cells.length === 1 && (r.cells[0]?.value.trim().startsWith('#') ?? false)));
  const header = rows[0];
  if (!header) return { entries: [] };
  const col = header.cells.findIndex((c) => SERIAL_HEADER.test(c.value.trim()));
  if (col === -1) {
    return {
      entries: [],
      problem: { message: `CSV header has no serial number column (found: ${header.cells.map((c) => c.value).join(', ')})`, offset: 0 },
    };
  }
  const entries: SerialEntry[] = [];
  for (const row of rows.slice(1)) {
    if (row.cells.every((c) => c.value.trim() === '')) continue;
    const cell = row.cells[col];
    entries.push(cell ? { raw: cell.value, offset: cell.offset } : { raw: '', offset: row.offset });
  }
  return { entries, column: header.cells[col]?.value.trim() ?? 'serial' };
}

interface CsvCell {
  value: string;
  offset: number;
}

/** RFC 4180 rows (quoted fields, doubled quotes, CRLF), keeping each cell's offset for error positions. */
function csvRows(text: string, delimiter: string): { offset: number; cells: CsvCell[] }[] {
  const rows: { offset: number; cells: CsvCell[] }[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const rowStart = i;
    const cells: CsvCell[] = [];
    for (;;) {
      const cellStart = i;
      let value = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q === -1) {
            value += text.slice(i);
            i = n;
            break;
          }
          value += text.slice(i, q);
          if (text[q + 1] === '"') {
            value += '"';
            i = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
        // Anything between the closing quote and the delimiter is kept, as spreadsheets do.
        while (i < n && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') value += text[i++];
        cells.push({ value, offset: cellStart + 1 });
      } else {
        let j = i;
        while (j < n && text[j] !== delimiter && text[j] !== '\n' && text[j] !== '\r') j++;
        value = text.slice(i, j);
        i = j;
        cells.push({ value, offset: cellStart });
      }
      if (text[i] === delimiter) {
        i++;
        continue;
      }
      break;
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') i++;
    rows.push({ offset: rowStart, cells });
  }
  return rows;
}
