/**
 * A fast path for very long inline serial lists. The YAML library builds a node with source positions for
 * every list item, which costs about 13 µs per serial: 100,000 inline serials would take over a second.
 * Long block lists of plain serials (`- F9FXK1ABCD12`, one per line) are read here with a line scanner
 * instead and blanked out of the text (same length, so every other offset is unchanged) before the YAML
 * parser sees it. Anything unusual — quoting, flow style, a value YAML would read as a number, a list that
 * is not `spec.serials` of an Assignment — keeps the list on the normal path, so results never differ.
 */

/** Lists shorter than this stay on the normal path. */
export const FAST_PATH_MIN_ITEMS = 1000;

/** One extracted list: the offset of its `serials:` key and its items with their offsets. */
export interface ExtractedList {
  keyOffset: number;
  items: { raw: string; offset: number }[];
}

/** Text with the extracted lists blanked out, and the lists. */
export interface Extraction {
  text: string;
  lists: ExtractedList[];
}

const KEY_LINE = /^( *)serials:[ \t]*(#.*)?$/;
const ITEM_LINE = /^( *)- ([A-Za-z0-9]+)[ \t]*(#.*)?$/;
const BLANK_OR_COMMENT = /^[ \t]*(#.*)?$/;
/** Plain scalars that YAML's core schema reads as numbers, not strings. */
const NOT_A_STRING = /^(?:[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+|[0-9]+[eE][0-9]+)$/;

/** Finds long plain serial lists and blanks them out of the text. Returns the text unchanged when none. */
export function extractLongSerialLists(text: string): Extraction {
  if (text.length < FAST_PATH_MIN_ITEMS * 8) return { text, lists: [] };
  const lines = text.split('\n');
  const starts: number[] = new Array<number>(lines.length);
  for (let i = 0, off = 0; i < lines.length; i++) {
    starts[i] = off;
    off += (lines[i]?.length ?? 0) + 1;
  }
  const lists: ExtractedList[] = [];
  const blank: [number, number][] = [];
  for (let i = 0; i < lines.length; i++) {
    const key = KEY_LINE.exec(lines[i] ?? '');
    if (!key) continue;
    const keyIndent = key[1]?.length ?? 0;
    const items: ExtractedList['items'] = [];
    let itemIndent = -1;
    let j = i + 1;
    let ok = true;
    for (; j < lines.length; j++) {
      const line = (lines[j] ?? '').replace(/\r$/, '');
      const item = ITEM_LINE.exec(line);
      if (item) {
        const indent = item[1]?.length ?? 0;
        if (itemIndent === -1) itemIndent = indent;
        if (indent !== itemIndent || indent < keyIndent) break;
        const raw = item[2] ?? '';
        if (NOT_A_STRING.test(raw)) {
          ok = false;
          break;
        }
        items.push({ raw, offset: (starts[j] ?? 0) + indent + 2 });
        continue;
      }
      if (BLANK_OR_COMMENT.test(line)) continue;
      // A line that is deeper than the key but is no plain item: the list has a form we do not read here.
      const indent = line.length - line.trimStart().length;
      if (indent > keyIndent && (itemIndent === -1 || indent >= itemIndent)) ok = false;
      break;
    }
    if (ok && items.length >= FAST_PATH_MIN_ITEMS) {
      lists.push({ keyOffset: (starts[i] ?? 0) + keyIndent, items });
      blank.push([i + 1, j]);
      i = j - 1;
    }
  }
  if (lists.length === 0) return { text, lists };
  const out = [...lines];
  for (const [from, to] of blank) {
    // A comment of the same length: the lexer skips a comment to the end of the line in one step.
    for (let k = from; k < to; k++) {
      const len = out[k]?.length ?? 0;
      out[k] = len === 0 ? '' : `#${' '.repeat(len - 1)}`;
    }
  }
  return { text: out.join('\n'), lists };
}
