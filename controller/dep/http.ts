/**
 * One HTTP exchange with the DEP service over undici: per-request timeout, caller abort, the whole
 * body read as text, and a metrics event. No retries and no authentication here (see retry.ts and
 * transport.ts).
 */
import { isAscii } from 'node:buffer';
import { errorCode, flattenHeaders, readBoundedBody } from '../util/http.js';
import { request, type Dispatcher } from 'undici';
import { DepNetworkError, DepProtocolError, DepTimeoutError } from './errors.js';
import { redact } from '../util/redact.js';

/** An event per HTTP exchange, for metrics (Prometheus counters and histograms later). */
export interface DepRequestEvent {
  method: string;
  /** Apple's path without query, e.g. `/server/devices`. */
  endpoint: string;
  status: number | 'network-error';
  durationMs: number;
  /** Bytes of response body received (0 on network errors). */
  responseBytes: number;
}

/** A request ready to send. */
export interface HttpExchange {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Full URL, with query. */
  url: string;
  /** Path without query, used in errors and metrics. */
  endpoint: string;
  headers: Record<string, string>;
  /** JSON text; kept as a string so it can be replayed after re-authentication or a retry. */
  body?: string;
  signal?: AbortSignal;
}

/** A response as text, with lower-cased header names. */
export interface HttpResult {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
}

/**
 * The most bytes one DEP response may have. A page of Apple's largest (1,000 devices) is under 1 MB; a body
 * near this is not a DEP answer, and reading it whole would hold it all in memory (the engineering rule: every
 * input has a bound on time and memory).
 */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Settings shared by every exchange of one client. */
export interface HttpSettings {
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** The largest response body accepted (MAX_RESPONSE_BYTES unless set; tests use a small one). */
  maxResponseBytes?: number;
  onRequest?: (e: DepRequestEvent) => void;
  /** Secret values to scrub from network error messages. */
  secrets: () => readonly (string | undefined)[];
}

/**
 * Sends one request and reads the whole response. Throws `DepTimeoutError` when no complete response
 * arrives within `timeoutMs`, `DepNetworkError` when the connection fails, and the caller's abort
 * reason when `signal` aborts.
 */
export async function exchange(settings: HttpSettings, req: HttpExchange): Promise<HttpResult> {
  req.signal?.throwIfAborted();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), settings.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout.signal]) : timeout.signal;
  const started = performance.now();
  const report = (status: number | 'network-error', responseBytes: number): void =>
    settings.onRequest?.({
      method: req.method,
      endpoint: req.endpoint,
      status,
      durationMs: performance.now() - started,
      responseBytes,
    });
  try {
    const res = await request(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      dispatcher: settings.dispatcher,
      signal,
    });
    const max = settings.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    const buf = await readBoundedBody(res.body, res.headers['content-length'], max, (declared) =>
      new DepProtocolError(req.endpoint, `response ${declared === null ? 'body' : `of ${declared} bytes`} is larger than the ${max} bytes accepted`));
    report(res.statusCode, buf.length);
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: bodyText(buf) };
  } catch (err) {
    // The caller's abort wins over everything: it is not a failure of Apple's service.
    if (req.signal?.aborted) throw req.signal.reason;
    if (err instanceof DepProtocolError) throw err;
    report('network-error', 0);
    if (timeout.signal.aborted) throw new DepTimeoutError(req.method, req.endpoint, settings.timeoutMs);
    const code = errorCode(err);
    const detail = redact(err instanceof Error ? err.message : String(err), settings.secrets());
    throw new DepNetworkError(req.method, req.endpoint, code, detail);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A response body as text (UTF-8). Device pages are mostly ASCII (every Apple sample in the reference is; an
 * admin's asset tag may not be), and ASCII bytes decode to the same string as Latin-1: a copy into a one-byte
 * string, where UTF-8 decoding cost about six times as much (a 6.7 MB page of 20,000 devices: 3.3 ms against
 * 21 ms on the bench machine). Any other body is decoded as UTF-8, invalid sequences becoming U+FFFD as before.
 */
export function bodyText(buf: Buffer): string {
  return isAscii(buf) ? buf.toString('latin1') : buf.toString('utf8');
}
