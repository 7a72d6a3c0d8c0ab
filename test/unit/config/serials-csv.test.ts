import { describe, expect, it } from 'vitest';
import { parseSerialFile } from '../../../controller/config/serials.js';

/** 1-based line and column of an offset, as problems print them. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${line}:${offset - (before.lastIndexOf('\n') + 1) + 1}`;
}

describe('serial files in CSV form (csv-parse)', () => {
  it('reads the serial column of an Apple Business Manager export with quotes, comments and mixed line ends', () => {
    const text = 'Serial Number,Model,Order\r\n# exported 2026-12-01\n"C02ABC1234",MacBook Air,"PO-1,2"\n\nDMQXK2ABCD12,"iPad\nPro",PO-3\rF9FXK1ABCD12,iPhone,PO-4';
    const parsed = parseSerialFile(text);
    expect(parsed.column).toBe('Serial Number');
    expect(parsed.entries.map((e) => e.raw)).toEqual(['C02ABC1234', 'DMQXK2ABCD12', 'F9FXK1ABCD12']);
    // Each serial's position is its own cell (inside the quotes for a quoted one), for file:line:col.
    expect(parsed.entries.map((e) => text.slice(e.offset, e.offset + e.raw.length))).toEqual(['C02ABC1234', 'DMQXK2ABCD12', 'F9FXK1ABCD12']);
    expect(lineCol(text, parsed.entries[0]!.offset)).toBe('3:2');
    expect(lineCol(text, parsed.entries[1]!.offset)).toBe('5:1');
  });

  it('keeps character positions right when the file holds non-ASCII text before a serial', () => {
    const text = 'Numéro de série;Modèle\nC02ABC1234;Écran ☃\nbad serial;Modèle\n';
    const parsed = parseSerialFile(text);
    expect(parsed.column).toBe('Numéro de série');
    expect(parsed.entries.map((e) => text.slice(e.offset, e.offset + e.raw.length))).toEqual(['C02ABC1234', 'bad serial']);
    expect(lineCol(text, parsed.entries[1]!.offset)).toBe('3:1');
  });

  it('reports a row without the serial cell at the row start, and a header without a serial column as a problem', () => {
    const short = 'Model,Serial Number\nMacBook\n';
    const parsed = parseSerialFile(short);
    expect(parsed.entries).toEqual([{ raw: '', offset: short.indexOf('MacBook') }]);
    const noColumn = parseSerialFile('Model,Order\nMacBook,PO-1\n');
    expect(noColumn.entries).toEqual([]);
    expect(noColumn.problem?.message).toBe('CSV header has no serial number column (found: Model, Order)');
  });

  it('turns an unreadable CSV into a problem at its line instead of throwing', () => {
    const text = 'Serial Number,Model\nC02ABC1234,x\n"unterminated,y\n';
    const parsed = parseSerialFile(text);
    expect(parsed.problem?.message).toMatch(/^not a readable CSV file: /);
    expect(parsed.entries).toEqual([]);
  });
});
