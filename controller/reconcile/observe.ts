import type { Device, FetchDeviceResponse } from '../dep/types.js';
import { isCursorExhausted, isCursorExpired, isCursorInvalid } from '../dep/errors.js';
import type { CallOptions, FetchWriteGroup, ObserveStore, ReconcileDepClient } from './ports.js';
import { parseInstant } from '../util/instant.js';

/** Apple: a cursor must be no older than 7 days; DESIGN.md: a full refetch at most weekly. */
export const FULL_FETCH_INTERVAL_MS = 7 * 24 * 3600 * 1000;

/**
 * Devices observe holds before handing them to the store during a full fetch, by default: a memory bound. The
 * store decides statements and transactions (store/README.md, "Batching").
 */
export const FETCH_WRITE_BATCH = 20_000;

/**
 * Sync events observe merges before it writes them (after the page that reaches this many). Smaller than a fetch's
 * groups: the events of a large sync (the echo of a million-device apply) then die young instead of being copied
 * through the young generation and promoted, and the echo of an apply made in serial order rewrites each page of
 * device state once whatever the group. The million-device settle, alternated: 18.6 and 20.4 s of CPU against 20.8
 * and 21.3 s with groups of 20,000 (10,000: 23.1 s, 2,000: 23.6 s, 5,000: 21.4 s in one series at a slow moment),
 * peak RSS 255–257 MiB against 348–349 MiB.
 */
export const SYNC_WRITE_BATCH = 5000;

/**
 * During a full fetch, devices are by default also written in smaller groups of at least this many while the
 * next page is still on the wire (under Apple's latency), so the write left after the last page stays short.
 */
export const IDLE_WRITE_MIN = 5000;

/** A full fetch's write groups for a store that states none (ObserveStore.fetchWriteGroup). */
export const DEFAULT_FETCH_WRITE_GROUP: FetchWriteGroup = { min: IDLE_WRITE_MIN, max: FETCH_WRITE_BATCH };

/** Page size asked of Apple (the documented maximum). */
export const PAGE_LIMIT = 1000;

/** A page size Apple allows: a positive whole number no larger than PAGE_LIMIT. */
function pageLimit(advertised: number | undefined): number {
  return advertised !== undefined && Number.isInteger(advertised) && advertised > 0 ? Math.min(advertised, PAGE_LIMIT) : PAGE_LIMIT;
}

/** What an observation did. */
export interface ObserveResult {
  mode: 'fetch' | 'sync';
  /** Why a full fetch was made (first contact, weekly refresh, expired cursor, --refresh). */
  reason: string | null;
  pages: number;
  /** Device records written (fetch: all; sync: changed). */
  upserted: number;
  /** Devices removed from the store (sync `deleted`, or gone from a complete full fetch). */
  deleted: number;
  /** True when every device was handed to `onFirstContact` (a full fetch into an empty store). */
  streamed: boolean;
}

/** How far a fetch or sync has come, after each page (for progress bars and logs). */
export interface ObserveProgress {
  server: string;
  mode: 'fetch' | 'sync';
  pages: number;
  /** Devices (fetch) or events (sync) received so far. */
  devices: number;
  /** Devices expected: the store's count before a refetch; null when unknown (first contact, sync). */
  total: number | null;
}

/** Options of observe. */
export interface ObserveOptions extends CallOptions {
  /** Force a full fetch. */
  refresh?: boolean;
  /** Page sizes Apple advertises for this server (`GET /account` urls[].limit, at most 1000); PAGE_LIMIT otherwise. */
  pageLimits?: { fetch: number; sync: number };
  now: () => Date;
  /**
   * On a full fetch into an empty store, receives every page as it arrives, so the caller can diff without
   * reading a million devices back from the store.
   */
  onFirstContact?: (devices: readonly Device[]) => void;
  /** Called after each page; must not throw. */
  onProgress?: (progress: ObserveProgress) => void;
  /**
   * Collects the serials a sync writes (upserted or deleted); a full fetch marks it overflowed. Filled as the
   * writes happen, so it says what was written even when observe throws part-way.
   */
  written?: WrittenSerials;
  /**
   * Replaces the server's converged key before observe's first device write (the planner puts a marker of its
   * pass there, compare-and-set, see planner.ts). Without it observe clears the key. Either way no stored key
   * stands over devices nobody diffed, even if the pass dies after the write.
   */
  beforeDeviceWrite?: () => Promise<void>;
}

/** Makes the stored converged key stale before a device write: the caller's way, or by clearing it. */
function invalidateConverged(server: string, store: ObserveStore, opts: ObserveOptions): Promise<void> {
  return opts.beforeDeviceWrite ? opts.beforeDeviceWrite() : store.setConvergedKey(server, null);
}

/** The serials a sync wrote, up to `max`; past that (or after any full-fetch write) only that there were more. */
export class WrittenSerials {
  readonly serials = new Set<string>();
  overflowed = false;

  constructor(readonly max: number) {}

  add(serials: Iterable<string>): void {
    if (this.overflowed) return;
    for (const s of serials) {
      this.serials.add(s);
      if (this.serials.size > this.max) {
        this.overflow();
        return;
      }
    }
  }

  /** Written devices not counted (too many, or a full fetch). */
  overflow(): void {
    this.overflowed = true;
    this.serials.clear();
  }

  /** Whether anything was written. */
  get any(): boolean {
    return this.overflowed || this.serials.size > 0;
  }
}

/**
 * Brings the store in line with what Apple reports for one server: a full fetch on first contact (or
 * weekly, or when the cursor expired, is invalid or exhausted), otherwise a sync from the stored cursor. Sync
 * events are merged by serial, the latest `op_date` (an instant) winning; `op_type` is compared ignoring case
 * and alone is not trusted (a device moved in from another server arrives as `modified`, and a
 * `profile_status` of `removed` means the profile is gone, both of which the stored record then shows).
 * Devices are deleted from the store only after a complete full fetch or an explicit `deleted` event: a
 * failure part-way never removes anything.
 *
 * Arrivals are marked in the store (`DeviceRecord.arrivedAt`): a sync `added`, any event for a serial the
 * store does not hold (it left earlier, or is new), a `deleted` followed by a later event in the same sync,
 * and a serial a full fetch lists that the store did not hold once a full fetch of the server has completed
 * before. The first full fetch of a server is not an arrival of its whole fleet.
 */
export async function observe(server: string, client: ReconcileDepClient, store: ObserveStore, opts: ObserveOptions): Promise<ObserveResult> {
  const state = await store.getCursor(server);
  const now = opts.now();
  let reason: string | null = null;
  if (opts.refresh) reason = 'refresh requested';
  else if (!state?.cursor || !state.fetchedAt) reason = 'first contact';
  else if (state.fetchStartedAt && state.fetchStartedAt > state.fetchedAt) reason = 'previous full fetch did not complete';
  else if (now.getTime() - state.fetchedAt.getTime() >= FULL_FETCH_INTERVAL_MS) reason = 'weekly full fetch';
  if (reason === null && state?.cursor) {
    try {
      return await sync(server, state.cursor, client, store, opts);
    } catch (err) {
      if (!(isCursorExpired(err) || isCursorInvalid(err) || isCursorExhausted(err))) throw err;
      reason = isCursorExpired(err) ? 'cursor expired' : isCursorInvalid(err) ? 'cursor invalid' : 'cursor exhausted';
    }
  }
  // Once a full fetch of the server has completed, a serial a later one finds that the store did not hold has
  // arrived; before that (first contact, or its interrupted fetch resuming) nothing has.
  return fullFetch(server, reason ?? 'first contact', state?.fetchedAt != null, client, store, opts);
}

/** Apple's `op_type`, lower-cased (nanodep normalises it the same way: micromdm/nanodep sync/syncer.go). */
function opType(d: Device): string {
  return typeof d.op_type === 'string' ? d.op_type.toLowerCase() : '';
}

/** Apple's `op_date` as an instant (epoch ms); an absent or unparseable one sorts first. */
function opInstant(d: Device): number {
  const ms = typeof d.op_date === 'string' ? parseInstant(d.op_date) : Number.NaN;
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

async function fullFetch(server: string, reason: string, knowsFleet: boolean, client: ReconcileDepClient, store: ObserveStore, opts: ObserveOptions): Promise<ObserveResult> {
  const startedAt = opts.now();
  // With no device stored yet (first contact) nothing can have gone: skip the scan for leavers below.
  const stored = await store.countDevices(server);
  const hadDevices = stored > 0;
  // Streamed devices are diffed as a first contact (no history, no arrivals), so only a real first contact streams.
  const streams = !hadDevices && !knowsFleet;
  await store.setCursor(server, { fetchStartedAt: startedAt });
  // As in a sync: the devices written below make the last "converged" diff stale. Forget it before the first
  // write, so that a crash after the fetch (a weekly refetch that found new devices) cannot leave a stored
  // "nothing to do" that an empty sync would then trust over devices nobody diffed.
  if (hadDevices) await invalidateConverged(server, store, opts);
  // The serials listed, to find leavers once the fetch is complete; an empty store has none to find, so a first
  // contact keeps only the count (a million serials in a set cost ~60 MiB and a hash each).
  const seen = hadDevices ? new Set<string>() : undefined;
  let listed = 0;
  let cursor: string | undefined;
  let pages = 0;
  let upserted = 0;
  // Pages are written in groups: one transaction per 1000 devices rewrites index pages all over the file for
  // randomly ordered serials, and at a million devices that dominates (store benchmark); the store says which
  // group sizes suit it (SQLite: larger ones), and the largest bounds memory.
  const group = validGroup(store.fetchWriteGroup);
  let buffer: Device[] = [];
  // Apple answers each page after a few hundred milliseconds, and each request needs the previous cursor, so
  // the fetch is a chain of round trips: ask for page k+1 as soon as page k is parsed (its cursor known),
  // then diff and store page k while k+1 is on the wire (issue: first contact at the speed of the wire). At
  // most one page is asked ahead and one write is in flight, so memory stays bounded (backpressure).
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let writing: Promise<void> | undefined;
  let writeDone = true;
  let writeFailure: { error: unknown } | undefined;
  const write = (devices: Device[]): void => {
    opts.written?.overflow();
    writeDone = false;
    writing = (async () => {
      upserted += await store.upsertDevices(server, devices, opts.now(), { newArrive: knowsFleet });
    })();
    void writing.then(() => {
      writeDone = true;
    }, () => undefined);
    // Handled at once: a failed write stops the fetch now (aborting the page on the wire), and its error is
    // the one thrown, never an unhandled rejection.
    writing.catch((error: unknown) => {
      writeFailure ??= { error };
      stop.abort(error);
    });
  };
  const chain = new PagesAhead(client.fetchAllDevices({ limit: pageLimit(opts.pageLimits?.fetch) }, { signal }));
  try {
    for (;;) {
      const page = await chain.next();
      if (page === undefined) break;
      pages++;
      for (const d of page.devices) {
        seen?.add(d.serial_number);
        buffer.push(d);
      }
      listed += page.devices.length;
      if (streams) opts.onFirstContact?.(page.devices);
      opts.onProgress?.({ server, mode: 'fetch', pages, devices: seen?.size ?? listed, total: hadDevices ? stored : null });
      cursor = page.cursor;
      if (buffer.length >= group.max) {
        // Backpressure: the previous write must have finished before the next starts.
        await writing;
        write(buffer);
        buffer = [];
      } else if (buffer.length >= group.min && !chain.arrived && writeDone) {
        // The next page is still on the wire and the store is free: write now rather than later, so that
        // little is left to write once the last page has arrived (then nothing hides the write any more).
        write(buffer);
        buffer = [];
      }
    }
    await writing;
    if (buffer.length > 0) {
      write(buffer);
      buffer = [];
      await writing;
    }
  } catch (err) {
    // Stop the page on the wire and let the write in flight settle before anything else touches the store.
    stop.abort(err);
    await Promise.allSettled([chain.close(), writing]);
    throw writeFailure ? writeFailure.error : err;
  }
  // The fetch is complete: devices the store has but Apple no longer lists have left this server (Apple
  // sends no `deleted` event when a device is released from the organisation).
  // Every serial listed is stored now, so the store holds exactly as many more as have left: when the count is the
  // number listed, none has, and a million stored devices need not be read back to find out.
  const gone: string[] = [];
  if (seen && (await store.countDevices(server)) !== seen.size) {
    for await (const page of store.iterateDevices(server)) {
      for (const d of page) if (!seen.has(d.serial)) gone.push(d.serial);
    }
  }
  if (gone.length > 0) opts.written?.overflow();
  const deleted = gone.length > 0 ? await store.deleteDevices(server, gone) : 0;
  const at = opts.now();
  await store.setCursor(server, { cursor: cursor ?? null, fetchedAt: at, syncedAt: at });
  return { mode: 'fetch', reason, pages, upserted, deleted, streamed: streams && opts.onFirstContact !== undefined };
}

/** The store's write groups when they make sense (whole numbers, 1 ≤ min ≤ max), else the defaults. */
function validGroup(g: FetchWriteGroup | undefined): FetchWriteGroup {
  if (g === undefined || !Number.isSafeInteger(g.min) || !Number.isSafeInteger(g.max) || g.min < 1 || g.min > g.max) return DEFAULT_FETCH_WRITE_GROUP;
  return g;
}

/**
 * A chain of pages (each request needs the previous cursor) read one page ahead: `next()` gives page k and asks
 * for page k+1 at once, then lets that request reach its socket before the caller's synchronous work on page k.
 * One page at most is asked ahead, so memory stays bounded. The page asked ahead may fail while page k is still
 * being worked on: its rejection is marked handled at once and thrown by the next `next()`.
 */
class PagesAhead {
  private ahead: Promise<IteratorResult<FetchDeviceResponse, void>> | undefined;
  /** Whether the page asked ahead has arrived (false while it is on the wire). */
  arrived = false;

  constructor(private readonly pages: AsyncGenerator<FetchDeviceResponse, void>) {
    this.ahead = this.ask();
  }

  private ask(): Promise<IteratorResult<FetchDeviceResponse, void>> {
    this.arrived = false;
    const next = this.pages.next();
    next.then(() => {
      this.arrived = true;
    }, () => undefined);
    return next;
  }

  /** The next page, or undefined after the last. */
  async next(): Promise<FetchDeviceResponse | undefined> {
    if (this.ahead === undefined) return undefined;
    const r = await this.ahead;
    if (r.done) {
      this.ahead = undefined;
      return undefined;
    }
    this.ahead = this.ask();
    await yieldToIo();
    return r.value;
  }

  /** After a failure (the caller aborted the request's signal): lets the page on the wire settle, ends the chain. */
  async close(): Promise<void> {
    await Promise.allSettled([this.ahead]);
    this.ahead = undefined;
    await this.pages.return(undefined).catch(() => undefined);
  }
}

/**
 * Event-loop turns a request just asked for needs to reach its socket: undici hands it from the Agent to a
 * connection across more than one turn. Measured against the simulator at 300 ms latency with 250 ms of
 * synchronous work per page: one turn (or a 1 ms timer) leaves the request unsent until the work ends
 * (≈ 570 ms per page), three send it first (≈ 315 ms). Four leave a margin.
 */
const TURNS_TO_SOCKET = 4;

/** Resolves after a few event-loop turns, so that a request just started is written to its socket. */
async function yieldToIo(): Promise<void> {
  for (let i = 0; i < TURNS_TO_SOCKET; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function sync(server: string, cursor: string, client: ReconcileDepClient, store: ObserveStore, opts: ObserveOptions): Promise<ObserveResult> {
  // Events are written in groups as they arrive (a sync after a large apply lists every device again, and
  // holding them all would cost gigabytes). The latest op_date per serial wins. Apple lists events in about the
  // order they happened, so an event no older than the newest seen so far in this sync (`newest`) is newer than
  // anything earlier for its serial and needs no look-up. Only an event older than that is compared: with a
  // pending event of its serial, with a `deleted` of it earlier in this sync, and with the op_date of the record
  // stored (where an earlier event of this sync was written). Before, the op_date of every serial seen was kept
  // for the whole sync: a million-entry map (about 80 MB) after a large apply.
  let newest = Number.NEGATIVE_INFINITY;
  // The latest `deleted` per serial in this sync: a later event for it means it left and came back (Apple may
  // list both in one sync, and only the later survives the merge).
  const left = new Map<string, number>();
  let pending = new Map<string, Device>();
  let next = cursor;
  let pages = 0;
  let events = 0;
  let upserted = 0;
  let deleted = 0;
  let invalidated = false;
  /** The op_date of the newest event of `serial` applied in this sync or stored before (-∞ when none). */
  const latestKnown = async (serial: string): Promise<number> => {
    const waiting = pending.get(serial);
    if (waiting !== undefined) return opInstant(waiting);
    const leftAt = left.get(serial) ?? Number.NEGATIVE_INFINITY;
    const stored = await store.getDevice(server, serial);
    return Math.max(leftAt, stored === undefined ? Number.NEGATIVE_INFINITY : opInstant(stored.device));
  };
  const flush = async (): Promise<void> => {
    if (pending.size === 0) return;
    // A device write makes the server's last "converged" diff stale. Forget it before the first write, so that a
    // crash after the cursor moved cannot leave a stored "nothing to do" over devices nobody diffed.
    if (!invalidated) {
      await invalidateConverged(server, store, opts);
      invalidated = true;
    }
    const upserts: Device[] = [];
    const deletes: string[] = [];
    const arrived = new Set<string>();
    for (const d of pending.values()) {
      const op = opType(d);
      if (op === 'deleted') {
        deletes.push(d.serial_number);
        continue;
      }
      upserts.push(d);
      // A device that arrives may carry the profile UUID Apple kept from before, and Fleet assigns every
      // `added` device again for that reason (fleetdm/fleet server/mdm/apple/apple_mdm.go,
      // processDeviceResponse); a `modified` for a serial the store does not hold is an arrival too (there and
      // in the store's newArrive below).
      const leftAt = left.get(d.serial_number);
      if (op === 'added' || (leftAt !== undefined && leftAt <= opInstant(d))) arrived.add(d.serial_number);
    }
    pending = new Map();
    if (opts.written && !opts.written.overflowed) {
      opts.written.add(upserts.map((d) => d.serial_number));
      opts.written.add(deletes);
    }
    if (upserts.length > 0) upserted += await store.upsertDevices(server, upserts, opts.now(), { newArrive: true, arrived, syncEvents: true });
    if (deletes.length > 0) deleted += await store.deleteDevices(server, deletes);
  };
  // As in the full fetch: page k+1 is asked for as soon as page k arrived (its cursor known), so it is on the wire
  // while page k's events are merged and written; one page ahead at most, so memory stays bounded. A failed write
  // aborts the page on the wire.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const chain = new PagesAhead(client.syncAllDevices({ cursor, limit: pageLimit(opts.pageLimits?.sync) }, { signal }));
  try {
    for (;;) {
      const page = await chain.next();
      if (page === undefined) break;
      pages++;
      for (const d of page.devices) {
        const opDate = opInstant(d);
        // A `deleted` is remembered even when a newer event of the serial wins: the device left and came back.
        if (opType(d) === 'deleted') left.set(d.serial_number, Math.max(opDate, left.get(d.serial_number) ?? Number.NEGATIVE_INFINITY));
        // On a tie the later event in Apple's order wins.
        if (opDate < newest && opDate < (await latestKnown(d.serial_number))) continue;
        newest = Math.max(newest, opDate);
        pending.delete(d.serial_number);
        pending.set(d.serial_number, d);
      }
      if (pending.size >= SYNC_WRITE_BATCH) await flush();
      next = page.cursor;
      events += page.devices.length;
      opts.onProgress?.({ server, mode: 'sync', pages, devices: events, total: null });
    }
    await flush();
  } catch (err) {
    stop.abort(err);
    await chain.close();
    throw err;
  }
  // The cursor moves only after every event is stored: a crash re-reads the same events (idempotent).
  await store.setCursor(server, { cursor: next, syncedAt: opts.now() });
  return { mode: 'sync', reason: null, pages, upserted, deleted, streamed: false };
}
