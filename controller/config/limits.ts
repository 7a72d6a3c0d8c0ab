/**
 * Bounds on the work a configuration may ask for. A config repository is input from whoever can open a pull
 * request, so every dimension that costs time or memory has a limit with a clear problem when it is passed,
 * never an out-of-memory kill or a stack overflow. The defaults leave room for the largest real fleets (a
 * million serials) and are set by the operator (`--input-limit NAME=VALUE`, or DEPCTL_INPUT_LIMITS), never
 * by the configuration itself.
 */

/** The limits, by the name the operator writes. */
export interface InputLimits {
  /** Largest YAML file, bytes. */
  yamlFileBytes: number;
  /** Largest serial file (`serialFiles`), bytes. */
  serialFileBytes: number;
  /** All files read for one load (YAML and serial files), bytes. */
  totalBytes: number;
  /** YAML files in the config directory. */
  files: number;
  /** depctl documents across all files. */
  documents: number;
  /** Nesting depth of YAML collections (flow `[`/`{` and block). */
  depth: number;
  /** Alias expansions per document ("billion laughs"). */
  aliases: number;
  /** Serial numbers across all assignments. */
  serials: number;
  /** Wall time of one load, milliseconds; checked between files and documents. */
  loadMs: number;
}

export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  yamlFileBytes: 16 * 1024 * 1024,
  serialFileBytes: 64 * 1024 * 1024,
  totalBytes: 256 * 1024 * 1024,
  files: 5000,
  documents: 5000,
  depth: 32,
  aliases: 100,
  serials: 2_000_000,
  loadMs: 60_000,
});

const NAMES = Object.keys(DEFAULT_INPUT_LIMITS) as (keyof InputLimits)[];

/** Parses `NAME=VALUE` (sizes may end in KiB, MiB or GiB; `loadMs` may be written `loadMs=30000`). */
export function parseInputLimit(text: string): [keyof InputLimits, number] {
  const m = /^\s*([A-Za-z]+)\s*=\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB)?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not NAME=VALUE (names: ${NAMES.join(', ')})`);
  const name = NAMES.find((n) => n.toLowerCase() === (m[1] as string).toLowerCase());
  if (!name) throw new Error(`unknown input limit "${m[1]}" (names: ${NAMES.join(', ')})`);
  const unit = m[3] === 'KiB' ? 1024 : m[3] === 'MiB' ? 1024 ** 2 : m[3] === 'GiB' ? 1024 ** 3 : 1;
  if (unit !== 1 && !name.endsWith('Bytes')) throw new Error(`input limit ${name} is a count, not a size`);
  const value = Math.round(Number(m[2]) * unit);
  if (!(value >= 1)) throw new Error(`input limit ${name} must be at least 1`);
  return [name, value];
}

/** The defaults with the operator's overrides (each `NAME=VALUE`); throws with a message on a bad entry. */
export function inputLimits(overrides: readonly string[] = []): InputLimits {
  const limits: InputLimits = { ...DEFAULT_INPUT_LIMITS };
  for (const o of overrides) {
    const [name, value] = parseInputLimit(o);
    limits[name] = value;
  }
  return limits;
}

/** Splits DEPCTL_INPUT_LIMITS (`documents=20000,depth=16`). */
export function inputLimitsFromEnv(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Where a YAML text first nests deeper than `max`, or undefined. */
export interface DepthViolation {
  offset: number;
  depth: number;
}

/**
 * Finds the first place where a YAML text nests collections deeper than `max`, in one pass and without
 * parsing (the YAML parser recurses per level: 100,000 nested `[` cost it seconds and end in a stack
 * overflow). Counts flow collections (`[`, `{` where YAML opens one: at the start of a value, after
 * `- `, `: `, `? `, or inside another flow collection), outside quotes and comments, plus the block
 * indentation levels around them. Block scalars (`|`, `>`) are skipped. An approximation: it counts a
 * continued plain scalar's more-indented lines as one more level and `- - x` as one, which is why the
 * default limit (32) sits far above the depth of any depctl document (about 6).
 */
export function findExcessiveNesting(text: string, max: number): DepthViolation | undefined {
  const indents: number[] = [];
  let flow = 0;
  let blockScalarIndent = -1; // inside a block scalar: lines indented more than this are its content
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Start of a line: measure indentation.
    let col = 0;
    while (i + col < n && text[i + col] === ' ') col++;
    const lineStart = i;
    i += col;
    let eol = lineEnd(text, i);
    const blank = i >= eol || text[i] === '#' || text[i] === '\r';
    if (blockScalarIndent >= 0) {
      if (blank || col > blockScalarIndent) {
        i = eol + 1;
        continue;
      }
      blockScalarIndent = -1;
    }
    if (!blank && flow === 0) {
      while (indents.length > 0 && (indents[indents.length - 1] as number) >= col) indents.pop();
      indents.push(col);
      if (indents.length > max) return { offset: lineStart + col, depth: indents.length };
    }
    // Scan the line's content. `prev` is ' ' at the start of a value (line start, after `- `, `: `, `? `).
    let prev = ' ';
    while (i < eol) {
      const c = text[i] as string;
      if (c === '#' && (i === lineStart || text[i - 1] === ' ' || text[i - 1] === '\t')) break;
      if (c === '"' || c === "'") {
        const end = quotedEnd(text, i, c);
        if (end === -1) return undefined; // an unterminated string: the parser reports it
        i = end + 1;
        if (i > eol) eol = lineEnd(text, i); // the string spanned lines: go on after it
        prev = 'x';
        continue;
      }
      let opened = false;
      if ((c === '[' || c === '{') && (flow > 0 || prev === ' ')) {
        opened = true;
        flow++;
        if (indents.length + flow > max) return { offset: i, depth: indents.length + flow };
      } else if ((c === ']' || c === '}') && flow > 0) {
        flow--;
      } else if ((c === '|' || c === '>') && flow === 0 && prev === ' ' && /^[|>][-+0-9]*[ \t]*(#.*)?\r?$/.test(text.slice(i, eol))) {
        blockScalarIndent = col;
        break;
      }
      const next = text[i + 1];
      const spaceAfter = i + 1 >= eol || next === ' ' || next === '\t' || next === '\r';
      if (c === ' ' || c === '\t') {
        // whitespace keeps `prev`
      } else if ((c === ':' || c === '-' || c === '?') && spaceAfter) {
        prev = ' ';
      } else if (opened || (c === ',' && flow > 0)) {
        prev = ' ';
      } else {
        prev = 'x';
      }
      i++;
    }
    i = eol + 1;
  }
  return undefined;
}

function lineEnd(text: string, from: number): number {
  const nl = text.indexOf('\n', from);
  return nl === -1 ? text.length : nl;
}

/** The index of the quote that closes the string opened at `start`, or -1. Strings may span lines. */
function quotedEnd(text: string, start: number, quote: string): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf(quote, i);
    if (q === -1) return -1;
    if (quote === '"') {
      let backslashes = 0;
      for (let j = q - 1; j > start && text[j] === '\\'; j--) backslashes++;
      if (backslashes % 2 === 1) {
        i = q + 1;
        continue;
      }
      return q;
    }
    if (text[q + 1] === "'") {
      i = q + 2;
      continue;
    }
    return q;
  }
}

/** Counts `---` document markers at line starts, plus the implicit first document: a cheap upper bound. */
export function countDocumentMarkers(text: string): number {
  let count = 1;
  let i = text.startsWith('---') ? 3 : 0;
  for (;;) {
    const at = text.indexOf('\n---', i);
    if (at === -1) return count;
    const after = text[at + 4];
    if (after === undefined || after === '\n' || after === ' ' || after === '\r' || after === '\t') count++;
    i = at + 4;
  }
}
