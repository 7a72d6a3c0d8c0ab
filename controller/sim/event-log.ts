/**
 * The append-only operation log behind fetch and sync. Every change to a device on this server
 * (added, modified, deleted) appends one entry; cursors are positions in this log, so a page costs
 * O(page) and a million-device fetch is linear overall (never quadratic).
 *
 * Fetch returns, in log order, the devices whose *latest* entry lies before the fetch's snapshot end
 * and that are still on the server: that is Apple's "chronological order of the last operation".
 * Sync returns every entry after the cursor, so a device may appear several times (Apple documents
 * this; clients resolve by serial and op_date).
 */

/** Operation types in the log, numbered for a Uint8Array. */
export const OP_TYPES = ['added', 'modified', 'deleted'] as const;

/** One of OP_TYPES. */
export type OpCode = 0 | 1 | 2;

/** One sync entry: a device index, what happened and when (epoch seconds). */
export interface LogEntry {
  device: number;
  op: OpCode;
  timeSec: number;
}

/** The operation log, stored column-wise in growable typed arrays. */
export class EventLog {
  private devices = new Int32Array(1024);
  private ops = new Uint8Array(1024);
  private times = new Uint32Array(1024);
  private size = 0;

  /** Number of entries. */
  get length(): number {
    return this.size;
  }

  /** Reserves room for `extra` more entries (one allocation for bulk fleet generation). */
  reserve(extra: number): void {
    const need = this.size + extra;
    if (need <= this.devices.length) return;
    let cap = this.devices.length;
    while (cap < need) cap *= 2;
    const d = new Int32Array(cap);
    d.set(this.devices.subarray(0, this.size));
    const o = new Uint8Array(cap);
    o.set(this.ops.subarray(0, this.size));
    const t = new Uint32Array(cap);
    t.set(this.times.subarray(0, this.size));
    this.devices = d;
    this.ops = o;
    this.times = t;
  }

  /** Appends an entry and returns its position. */
  append(device: number, op: OpCode, timeSec: number): number {
    this.reserve(1);
    const pos = this.size++;
    this.devices[pos] = device;
    this.ops[pos] = op;
    this.times[pos] = timeSec;
    return pos;
  }

  /** The entry at `pos` (0 <= pos < length). */
  entry(pos: number): LogEntry {
    return { device: this.devices[pos] ?? -1, op: (this.ops[pos] ?? 0) as OpCode, timeSec: this.times[pos] ?? 0 };
  }

  /**
   * Scans fetch positions [pos, end) and collects up to `limit` live devices (those for which
   * `isLive(device, position)` holds). Returns them and the next position, advanced past any trailing
   * dead entries so that `more_to_follow` is exact.
   */
  scanLive(pos: number, end: number, limit: number, isLive: (device: number, position: number) => boolean): { devices: number[]; next: number } {
    const out: number[] = [];
    let p = pos;
    for (; p < end && out.length < limit; p++) {
      const d = this.devices[p] as number;
      if (isLive(d, p)) out.push(d);
    }
    while (p < end && !isLive(this.devices[p] as number, p)) p++;
    return { devices: out, next: p };
  }
}
