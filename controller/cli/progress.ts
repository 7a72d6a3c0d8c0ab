/**
 * Progress of long fetches and applies on standard error: one line, rewritten in place, at most a few times a
 * second, cleared at the end. Only for a person at a terminal: never with `--format json` or when stderr is a
 * file or a pipe (the controller logs a line per 100 pages instead, see run.ts).
 */
import type { ApplyProgress } from '../reconcile/apply.js';
import type { ObserveProgress } from '../reconcile/observe.js';
import type { CliIo } from './io.js';

/** Minimum time between two redraws (four a second). */
export const PROGRESS_INTERVAL_MS = 250;

/** Receives progress events and draws them; `clear()` removes the line (call it before printing anything else). */
export interface ProgressReporter {
  observe(p: ObserveProgress): void;
  apply(p: ApplyProgress): void;
  clear(): void;
}

/** A reporter that draws nothing. */
export const NO_PROGRESS: ProgressReporter = { observe: () => undefined, apply: () => undefined, clear: () => undefined };

/** Options of createProgress. */
export interface ProgressOptions {
  /** Milliseconds clock (injectable for tests). */
  clock?: () => number;
  intervalMs?: number;
}

/** Whether progress is drawn: stderr is a terminal and the output is not JSON. */
export function progressWanted(io: CliIo, format: string): boolean {
  return io.isTTY === true && format !== 'json';
}

/** A reporter drawing on io.stderr when `enabled`, else NO_PROGRESS. */
export function createProgress(io: CliIo, enabled: boolean, opts: ProgressOptions = {}): ProgressReporter {
  if (!enabled) return NO_PROGRESS;
  const clock = opts.clock ?? Date.now;
  const interval = opts.intervalMs ?? PROGRESS_INTERVAL_MS;
  let phase = '';
  let phaseStart = 0;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let shown = false;
  const draw = (key: string, text: (elapsedMs: number) => string, final: boolean): void => {
    const now = clock();
    if (key !== phase) {
      phase = key;
      phaseStart = now;
    }
    // Throttled, but the last event of a phase (total reached) is always drawn.
    if (!final && now - lastDraw < interval) return;
    lastDraw = now;
    io.stderr(`\r\x1b[2K${text(now - phaseStart)}`);
    shown = true;
  };
  return {
    observe(p) {
      const verb = p.mode === 'fetch' ? 'fetching devices' : 'syncing';
      const unit = `${p.mode === 'fetch' ? 'device' : 'event'}${p.devices === 1 && p.total === null ? '' : 's'}`;
      draw(`observe:${p.server}:${p.mode}`, (ms) => `${p.server}: ${verb}: ${plural(p.pages, 'page')}, ${count(p.devices, p.total)} ${unit}${rateAndEta(p.devices, p.total, ms)}`, false);
    },
    apply(p) {
      draw(`apply:${p.server}`, (ms) => `${p.server}: applying: ${count(p.devices, p.total)} devices, ${plural(p.requests, 'request')}${rateAndEta(p.devices, p.total, ms)}`, p.devices >= p.total);
    },
    clear() {
      if (shown) io.stderr('\r\x1b[2K');
      shown = false;
      lastDraw = Number.NEGATIVE_INFINITY;
    },
  };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function plural(n: number, word: string): string {
  return `${fmt(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** `1,200` or `1,200/5,000 (24%)` when the total is known. */
function count(done: number, total: number | null): string {
  if (total === null || total <= 0) return fmt(done);
  return `${fmt(done)}/${fmt(total)} (${Math.min(100, Math.floor((done / total) * 100))}%)`;
}

/** `, 850/s, ETA 12s`: the rate once a second has passed, the ETA when the total is known. */
export function rateAndEta(done: number, total: number | null, elapsedMs: number): string {
  if (elapsedMs < 1000 || done === 0) return '';
  const rate = done / (elapsedMs / 1000);
  let out = `, ${fmt(Math.round(rate))}/s`;
  if (total !== null && total > done) out += `, ETA ${eta((total - done) / rate)}`;
  return out;
}

function eta(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}
