/**
 * One HTTP exchange with Apple's Business API or token endpoint over undici (per-request timeout,
 * caller abort, bounded body), and the retry loop around it: network errors, timeouts, 429 and 5xx
 * are retried with exponential backoff and jitter, a `Retry-After` (seconds or HTTP date) is honoured,
 * attempts and total time are bounded. Other 4xx are returned at once: sending them again cannot help.
 */
import { request, type Dispatcher } from 'undici';
import { errorCode, flattenHeaders, raceAbort, readBoundedBody } from '../util/http.js';
import { isRetryableStatus, retryPolicy, withRetries as retryLoop, type RetryOptions, type RetryPolicy } from '../util/retry.js';
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
    const buf = await readBoundedBody(res.body, res.headers['content-length'], maxBytes, (declared) =>
      new AbmProtocolError(req.endpoint, `response ${declared === null ? '' : `of ${declared} bytes `}is larger than the ${maxBytes} bytes accepted`));
    report(res.statusCode, buf.length);
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: buf.toString('utf8') };
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


/** How the client retries transient failures (the shared loop of util/retry.ts). */
export type AbmRetryOptions = RetryOptions;
export type AbmRetryPolicy = RetryPolicy;
export { isRetryableStatus, raceAbort };

/** Fills in the defaults of {@link AbmRetryOptions}. */
export const abmRetryPolicy = retryPolicy;

/**
 * The shared retry loop with transient `AbmError`s retried like 5xx. With `onlyRejected` (a request that is not
 * idempotent, such as creating an MDM server) only a 429 is retried: Apple refused it before doing anything,
 * while after a 5xx or a lost answer the server may exist already.
 */
export function withRetries(policy: AbmRetryPolicy, signal: AbortSignal | undefined, attempt: () => Promise<AbmHttpResult>, onlyRejected = false): Promise<AbmHttpResult> {
  return retryLoop(policy, signal, attempt, {
    transient: (err) => !onlyRejected && err instanceof AbmError && err.transient,
    ...(onlyRejected ? { status: (status: number) => status === 429 } : {}),
  });
}
