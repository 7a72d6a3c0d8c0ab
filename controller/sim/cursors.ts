/**
 * Fetch and sync cursors. A cursor is a position in the operation log (plus, for a fetch, the
 * snapshot end fixed by its first page) and the time it was issued, so EXPIRED_CURSOR can be decided
 * by the injected clock. Clients see opaque base64url text, like Apple's (`MDowOjE1MzY0…`); a keyed
 * MAC makes edited or foreign cursors INVALID_CURSOR rather than silently wrong.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A cursor handed out by POST /server/devices. */
export interface FetchCursor {
  kind: 'fetch';
  /** Next log position to scan. */
  pos: number;
  /** Log length when the fetch began: the snapshot this fetch walks. */
  end: number;
  issuedMs: number;
}

/** A cursor handed out by POST /devices/sync. */
export interface SyncCursor {
  kind: 'sync';
  pos: number;
  issuedMs: number;
}

/** Either kind of cursor. */
export type Cursor = FetchCursor | SyncCursor;

/** Apple: "a cursor must be no older than 7 days" (EXPIRED_CURSOR). */
export const CURSOR_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** Apple's documented maximum cursor length. */
export const MAX_CURSOR_LENGTH = 1000;

const FORMAT = /^([fs]):(\d+):(\d+):(\d+):([0-9a-f]{16})$/;

/** Encodes and verifies cursors with a per-simulator key. */
export class CursorCodec {
  constructor(private readonly key: Buffer) {}

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('hex').slice(0, 16);
  }

  /** Encodes a cursor as opaque base64url text. */
  encode(c: Cursor): string {
    const payload = `${c.kind === 'fetch' ? 'f' : 's'}:${c.pos}:${c.kind === 'fetch' ? c.end : 0}:${c.issuedMs}`;
    return Buffer.from(`${payload}:${this.mac(payload)}`).toString('base64url');
  }

  /** Decodes a cursor, or returns undefined when it is not one of ours (INVALID_CURSOR). */
  decode(text: string): Cursor | undefined {
    if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_\-+/=]+$/.test(text)) return undefined;
    const m = FORMAT.exec(Buffer.from(text, 'base64url').toString('latin1'));
    if (!m) return undefined;
    const [, kind, pos, end, issued, mac] = m as unknown as [string, string, string, string, string, string];
    const expected = Buffer.from(this.mac(`${kind}:${pos}:${end}:${issued}`));
    if (!timingSafeEqual(expected, Buffer.from(mac))) return undefined;
    const c = { pos: Number(pos), issuedMs: Number(issued) };
    if (kind === 'f') {
      const fetch: FetchCursor = { kind: 'fetch', end: Number(end), ...c };
      return fetch.pos <= fetch.end ? fetch : undefined;
    }
    return { kind: 'sync', ...c };
  }
}
