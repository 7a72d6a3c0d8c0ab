import { describe, expect, it } from 'vitest';
import { parseInstant } from '../../../controller/util/instant.js';

describe('parseInstant', () => {
  it('answers as Date.parse for any sequence of texts, repeated or not', () => {
    const texts = ['2026-12-07T01:00:00Z', '2026-12-07T01:00:00Z', 'not a date', 'not a date', '2026-12-07T01:00:01Z', '', '2026-12-07T01:00:00Z', '2026-12-07T01:00:00+01:00'];
    const got = texts.map((t) => parseInstant(t));
    expect(got).toEqual(texts.map((t) => Date.parse(t)));
    expect(got[0]).toBe(Date.UTC(2026, 11, 7, 1, 0, 0));
    expect(got[2]).toBeNaN();
    expect(got[4]).toBe(Date.UTC(2026, 11, 7, 1, 0, 1));
  });
});
