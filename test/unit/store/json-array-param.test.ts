import { describe, expect, it } from 'vitest';
import { jsonArrayOfTexts } from '../../../controller/store/postgres/connection.js';

/** The parameter as the PostgreSQL store builds it: each row's JSON text, then one array. */
const param = (rows: readonly unknown[]): Buffer => jsonArrayOfTexts(rows.map((r) => JSON.stringify(r) ?? 'null'));

describe('jsonArrayOfTexts', () => {
  it('gives the UTF-8 bytes of the array of the texts, as JSON.stringify of the whole array', () => {
    const cases: unknown[][] = [
      [],
      [{ s: 'C02X1', r: { model: 'iPad' }, p: null }],
      [{ s: 'A' }, { s: 'Salle Ézé 🍎', d: 'iPad Pro 11″', q: 'quote " and \\ back\u0000slash' }, 3, 'text', null, [1, [2]]],
    ];
    for (const rows of cases) expect(param(rows).toString('utf8')).toBe(JSON.stringify(rows));
  });

  it('takes each text as it is (no second encoding)', () => {
    expect(jsonArrayOfTexts(['{"od":null,"d":{"a":1}}', '2']).toString('utf8')).toBe('[{"od":null,"d":{"a":1}},2]');
  });

  it('fills the buffer exactly (no bytes left over from allocation)', () => {
    const rows = Array.from({ length: 2000 }, (_, i) => ({ s: `C${i}`, t: 'é'.repeat(i % 7) }));
    const buf = param(rows);
    expect(buf.length).toBe(Buffer.byteLength(JSON.stringify(rows)));
    expect(JSON.parse(buf.toString('utf8'))).toEqual(rows);
  });
});
