/** Small HTTP helpers shared by Apple's two API clients (dep/, abm/). */

/** Response headers with lower-case names and one value each (the last of a repeated header). */
export function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = Array.isArray(v) ? v[v.length - 1] : v;
  return out;
}

/** The most specific error code of an undici error: its cause's system code (ECONNRESET) or its own. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const cause = (err as { cause?: unknown }).cause;
  const causeCode = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof causeCode === 'string') return causeCode;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Waits for `promise`, but rejects with the signal's reason as soon as the signal aborts: one caller of a
 * shared, single-flight request can give up without cancelling it for the others.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
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

/** A response body as undici gives it: chunks to iterate, an `error` event, and `destroy`. */
interface BodyStream extends AsyncIterable<unknown> {
  on(event: 'error', listener: (err: Error) => void): unknown;
  destroy(): unknown;
}

/**
 * Stops reading a response body that will not be used (over a size bound). undici reports a body destroyed
 * before its end as an `error` event (RequestAbortedError); with no listener that event is an uncaught
 * exception that would end the process, so the expected one is swallowed here.
 */
function discardBody(body: BodyStream): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * Reads a whole response body of at most `max` bytes (both Apple clients). A larger one, declared by
 * content-length (`declared` is then its length) or streamed (`declared` null), is discarded and the error
 * `tooLarge` makes is thrown before the body is all in memory.
 */
export async function readBoundedBody(body: BodyStream, contentLength: string | string[] | undefined, max: number, tooLarge: (declared: number | null) => Error): Promise<Buffer> {
  const length = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength);
  if (Number.isFinite(length) && length > max) {
    discardBody(body);
    throw tooLarge(length);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) {
      discardBody(body);
      throw tooLarge(null);
    }
    chunks.push(b);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
