/**
 * One HTTP exchange with Apple's Business API or token endpoint over undici (per-request timeout,
 * caller abort, bounded body), and the retry loop around it: network errors, timeouts, 429 and 5xx
 * are retried with exponential backoff and jitter, a `Retry-After` (seconds or HTTP date) is honoured,
 * attempts and total time are bounded. Other 4xx are returned at once: sending them again cannot help.
 */
import { request, type Dispatcher } from 'undici';
import { backoffDelay, parseRetryAfter } from '../util/backoff.js';
import { sleep as realSleep, type SleepFn } from '../util/sleep.js';
import { AbmError, AbmNetworkError, AbmProtocolError, AbmTimeoutError, redactAbm } from './errors.js';

/** An event per HTTP exchange, for metrics. */
export interface AbmRequestEvent {
  method: string;
  /** Path without query, e.g. `/v1/orgDevices` or `/auth/oauth2/token`. */
  endpoint: string;
  status: number | 'network-error';
  durationMs: number;
  responseBytes: number;
}

/** A request ready to send. */
export interface AbmExchange {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  endpoint: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Largest body accepted; a longer one is an `AbmProtocolError` (default {@link MAX_RESPONSE_BYTES}). */
  maxBytes?: number;
}

/** A response as text, with lower-cased header names. */
export interface AbmHttpResult {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
}

/** Settings shared by every exchange of one client. */
export interface AbmHttpSettings {
  dispatcher: Dispatcher;
  timeoutMs: number;
  onRequest?: (e: AbmRequestEvent) => void;
  /** Secrets to scrub from network error messages. */
  secrets: () => readonly (string | undefined)[];
}

/** Default bound of a response body: a 1000-device page is about 1 MiB. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** Sends one request and reads the body up to `maxBytes`. */
export async function exchange(settings: AbmHttpSettings, req: AbmExchange): Promise<AbmHttpResult> {
  req.signal?.throwIfAborted();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), settings.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout.signal]) : timeout.signal;
  const started = performance.now();
  const maxBytes = req.maxBytes ?? MAX_RESPONSE_BYTES;
  const report = (status: number | 'network-error', bytes: number): void =>
    settings.onRequest?.({ method: req.method, endpoint: req.endpoint, status, durationMs: performance.now() - started, responseBytes: bytes });
  let res: Dispatcher.ResponseData;
  try {
    res = await request(req.url, { method: req.method, headers: req.headers, body: req.body, dispatcher: settings.dispatcher, signal });
  } catch (err) {
    clearTimeout(timer);
    throw failure(settings, req, err, timeout.signal, report);
  }
  try {
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.body.destroy();
      throw new AbmProtocolError(req.endpoint, `response of ${declared} bytes is larger than the ${maxBytes} bytes accepted`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new AbmProtocolError(req.endpoint, `response is larger than the ${maxBytes} bytes accepted`);
      }
      chunks.push(b);
    }
    report(res.statusCode, size);
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: Buffer.concat(chunks).toString('utf8') };
  } catch (err) {
    if (err instanceof AbmError) throw err;
    throw failure(settings, req, err, timeout.signal, report);
  } finally {
    clearTimeout(timer);
  }
}

function failure(
  settings: AbmHttpSettings,
  req: AbmExchange,
  err: unknown,
  timeout: AbortSignal,
  report: (status: 'network-error', bytes: number) => void,
): unknown {
  // The caller's abort wins: it is not a failure of Apple's service.
  if (req.signal?.aborted) return req.signal.reason;
  report('network-error', 0);
  if (timeout.aborted) return new AbmTimeoutError(req.method, req.endpoint, settings.timeoutMs);
  const detail = redactAbm(err instanceof Error ? err.message : String(err), settings.secrets());
  return new AbmNetworkError(req.method, req.endpoint, errorCode(err), detail);
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = Array.isArray(v) ? v[v.length - 1] : v;
  return out;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const cause = (err as { cause?: unknown }).cause;
  const causeCode = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof causeCode === 'string') return causeCode;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** How the client retries transient failures. */
export interface AbmRetryOptions {
  /** Total attempts including the first (default 5; 1 disables retries). */
  maxAttempts?: number;
  /** First retry delay before jitter (default 500 ms). */
  baseDelayMs?: number;
  /** Cap of a computed delay (default 30 s); a longer Retry-After is still honoured within the budget. */
  maxDelayMs?: number;
  /** Give up when the next wait would end later than this after the first attempt (default 120 s). */
  maxElapsedMs?: number;
  /** Injectable wait (default a real, abortable timer). */
  sleep?: SleepFn;
}

/** Retry settings with defaults filled in. */
export interface AbmRetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxElapsedMs: number;
  sleep: SleepFn;
  now: () => number;
  random: () => number;
}

/** Fills in the defaults of {@link AbmRetryOptions}. */
export function abmRetryPolicy(opts: AbmRetryOptions | undefined, now: () => number, random: () => number): AbmRetryPolicy {
  return {
    maxAttempts: Math.max(1, opts?.maxAttempts ?? 5),
    baseDelayMs: opts?.baseDelayMs ?? 500,
    maxDelayMs: opts?.maxDelayMs ?? 30_000,
    maxElapsedMs: opts?.maxElapsedMs ?? 120_000,
    sleep: opts?.sleep ?? realSleep,
    now,
    random,
  };
}

/** 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Runs `attempt` until a non-retryable status or the budget runs out, then returns the last response
 * (a retryable one included, for the caller to turn into a typed error). Transient `AbmError`s are
 * retried the same way and rethrown at the end; anything else is rethrown at once.
 *
 * With `onlyRejected` (a create that is not idempotent), only 429 is retried: Apple refused it before
 * acting. A 5xx, a timeout or a lost connection may come after the resource was created, so those are
 * returned or thrown at once for the caller to look before trying again.
 */
export async function withRetries(
  policy: AbmRetryPolicy,
  signal: AbortSignal | undefined,
  attempt: () => Promise<AbmHttpResult>,
  onlyRejected = false,
): Promise<AbmHttpResult> {
  const started = policy.now();
  for (let n = 1; ; n++) {
    let outcome: { result: AbmHttpResult } | { error: AbmError };
    try {
      const result = await attempt();
      if (!isRetryableStatus(result.status) || (onlyRejected && result.status !== 429)) return result;
      outcome = { result };
    } catch (err) {
      if (!(err instanceof AbmError) || !err.transient || onlyRejected) throw err;
      outcome = { error: err };
    }
    const retryAfter = 'result' in outcome ? parseRetryAfter(outcome.result.headers['retry-after'], policy.now()) : undefined;
    const delay = Math.max(retryAfter ?? 0, backoffDelay(n, policy));
    if (n >= policy.maxAttempts || policy.now() - started + delay > policy.maxElapsedMs) {
      if ('result' in outcome) return outcome.result;
      throw outcome.error;
    }
    await policy.sleep(delay, signal);
  }
}

/** Waits for `promise` but rejects with the signal's reason if the signal aborts first. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
