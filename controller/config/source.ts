import { readFile, stat } from 'node:fs/promises';
import { LineCounter } from 'yaml';
import type { SourceLoc } from './problems.js';

/** A text file of the config repository, decoded, with offset → line/column lookup. */
export class SourceFile {
  /** Line index built lazily: most files never need a position. */
  private lines: LineCounter | undefined;

  constructor(
    /** Path relative to the config directory, with `/` separators. */
    readonly relPath: string,
    /** Absolute path on disk. */
    readonly absPath: string,
    /** Decoded text, without a byte order mark. */
    readonly text: string,
  ) {}

  /** Location of a character offset in `text`. */
  loc(offset: number): SourceLoc {
    if (!this.lines) {
      const lc = new LineCounter();
      lc.addNewLine(0);
      for (let i = this.text.indexOf('\n'); i !== -1; i = this.text.indexOf('\n', i + 1)) lc.addNewLine(i + 1);
      this.lines = lc;
    }
    const { line, col } = this.lines.linePos(Math.max(0, Math.min(offset, this.text.length)));
    return { file: this.relPath, line, column: col };
  }
}

/** Why a file could not be read as text. */
export interface ReadFailure {
  code: 'io-error' | 'file-too-large' | 'encoding';
  message: string;
  /** Where the problem is, when it is inside the file (e.g. the first invalid byte). */
  line: number;
  column: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads a file as strict UTF-8 text with a size limit. Non-UTF-8 bytes, UTF-16 files and files over the
 * limit are reported, never half-read.
 */
export async function readTextFile(absPath: string, relPath: string, maxBytes: number): Promise<SourceFile | ReadFailure> {
  try {
    const st = await stat(absPath);
    if (st.size > maxBytes) {
      return {
        code: 'file-too-large',
        message: `file is ${formatBytes(st.size)}, over the limit of ${formatBytes(maxBytes)}; split it into several files`,
        line: 1,
        column: 1,
      };
    }
    const bytes = await readFile(absPath);
    if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
      return { code: 'encoding', message: 'file is UTF-16; save it as UTF-8', line: 1, column: 1 };
    }
    try {
      // TextDecoder drops a leading UTF-8 BOM by default.
      return new SourceFile(relPath, absPath, utf8.decode(bytes));
    } catch {
      const at = firstInvalidUtf8(bytes);
      return { code: 'encoding', message: `file is not valid UTF-8 (byte 0x${(bytes[at.offset] ?? 0).toString(16).padStart(2, '0')}); save it as UTF-8`, line: at.line, column: at.column };
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { code: 'io-error', message: `cannot read file (${code ?? (err as Error).message})`, line: 1, column: 1 };
  }
}

/** Finds the first byte that breaks UTF-8, with its line and column (columns count bytes here). */
function firstInvalidUtf8(bytes: Uint8Array): { offset: number; line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    let need = 0;
    if (b === 0x0a) {
      line++;
      lineStart = i + 1;
    }
    if (b < 0x80) need = 0;
    else if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) need = 2;
    else if (b >= 0xf0 && b <= 0xf4) need = 3;
    else return { offset: i, line, column: i - lineStart + 1 };
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return { offset: i, line, column: i - lineStart + 1 };
    }
    i += need + 1;
  }
  return { offset: 0, line: 1, column: 1 };
}

/** Human-readable byte count (KiB/MiB). */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
