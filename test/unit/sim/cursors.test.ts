import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CursorCodec, type Cursor } from '../../../controller/sim/cursors.js';

describe('cursor encoding', () => {
  const codec = new CursorCodec(randomBytes(32));

  it('round-trips fetch and sync cursors as base64url text within Apple\'s length limit', () => {
    const cursors: Cursor[] = [
      { kind: 'fetch', pos: 0, end: 0, issuedMs: 1 },
      { kind: 'fetch', pos: 999, end: 1_000_001, issuedMs: Date.UTC(2026, 0, 1) },
      { kind: 'sync', pos: 123_456_789, issuedMs: Date.UTC(2030, 5, 1) },
    ];
    for (const c of cursors) {
      const text = codec.encode(c);
      expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
      // Apple documents cursors of at most 1000 characters.
      expect(text.length).toBeLessThanOrEqual(1000);
      expect(codec.decode(text)).toEqual(c);
    }
  });

  it('rejects edited, foreign, garbage and over-long cursors', () => {
    const text = codec.encode({ kind: 'sync', pos: 10, issuedMs: 1000 });
    const raw = Buffer.from(text, 'base64url').toString('latin1');
    const edited = Buffer.from(raw.replace(':10:', ':11:')).toString('base64url');
    expect(codec.decode(edited)).toBeUndefined();
    expect(new CursorCodec(randomBytes(32)).decode(text)).toBeUndefined();
    expect(codec.decode('bm90LWEtY3Vyc29y')).toBeUndefined();
    expect(codec.decode('')).toBeUndefined();
    expect(codec.decode('!!!')).toBeUndefined();
    expect(codec.decode('A'.repeat(1001))).toBeUndefined();
  });

  it('never decodes a fetch cursor past its own snapshot end', () => {
    const bogus = codec.encode({ kind: 'fetch', pos: 5, end: 4, issuedMs: 0 });
    expect(codec.decode(bogus)).toBeUndefined();
  });
});
