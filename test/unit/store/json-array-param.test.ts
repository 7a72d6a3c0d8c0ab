import { describe, expect, it } from 'vitest';
import { jsonArrayParam } from '../../../controller/store/postgres/connection.js';

describe('jsonArrayParam', () => {
  it('gives the UTF-8 bytes of JSON.stringify of the whole array', () => {
    const cases: unknown[][] = [
      [],
      [{ s: 'C02X1', r: { model: 'iPad' }, p: null }],
      [{ s: 'A' }, { s: 'Salle Ézé 🍎', d: 'iPad Pro 11″', q: 'quote " and \\ back\u0000slash' }, 3, 'text', null, [1, [2]]],
    ];
    for (const rows of cases) expect(jsonArrayParam(rows).toString('utf8')).toBe(JSON.stringify(rows));
  });

  it('writes a value JSON cannot hold as null, as an array would', () => {
    expect(jsonArrayParam([undefined, { a: undefined }, () => 1]).toString('utf8')).toBe('[null,{},null]');
  });

  it('fills the buffer exactly (no bytes left over from allocation)', () => {
    const rows = Array.from({ length: 2000 }, (_, i) => ({ s: `C${i}`, t: 'é'.repeat(i % 7) }));
    const buf = jsonArrayParam(rows);
    expect(buf.length).toBe(Buffer.byteLength(JSON.stringify(rows)));
    expect(JSON.parse(buf.toString('utf8'))).toEqual(rows);
  });
});
