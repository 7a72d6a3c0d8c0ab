/**
 * Verification of git webhooks and bearer tokens. Secrets are compared in constant time: both sides are
 * hashed to fixed-length digests first, so `timingSafeEqual` never sees buffers of different lengths and
 * the comparison time says nothing about where, or whether by length, a guess differs.
 *
 * GitHub signs the raw request body with HMAC-SHA256 and the webhook secret and sends
 * `X-Hub-Signature-256: sha256=<hex>` (GitHub docs, "Validating webhook deliveries"); its `ping` event is
 * sent once when the hook is created. GitLab sends the configured secret verbatim in `X-Gitlab-Token`
 * (GitLab docs, "Webhooks": "Validate requests with a secret token") and names the event in
 * `X-Gitlab-Event`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Compares two secrets in constant time, whatever their lengths. */
export function secretsEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** Checks an `Authorization: Bearer <token>` header against the configured token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  // Compare even when the header is absent or malformed, so that every rejection costs the same.
  return secretsEqual(m?.[1] ?? '', token) && m !== null;
}

/** Checks GitHub's `X-Hub-Signature-256` header: `sha256=` and the hex HMAC-SHA256 of the raw body. */
export function githubSignatureValid(header: string | undefined, body: Buffer, secret: string): boolean {
  const m = /^sha256=([0-9a-f]{64})$/i.exec((header ?? '').trim());
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = m?.[1] ? Buffer.from(m[1], 'hex') : Buffer.alloc(0);
  return secretsEqual(given, expected) && m !== null;
}

/** Checks GitLab's `X-Gitlab-Token` header against the configured token. */
export function gitlabTokenValid(header: string | undefined, token: string): boolean {
  return secretsEqual(header ?? '', token) && header !== undefined;
}

/** What a verified delivery asks for. */
export type HookAction = 'ping' | 'trigger' | 'ignore';

/** GitHub events: `ping` is answered without a pass; `push` (branches and tags) starts one; others are ignored. */
export function githubAction(event: string | undefined): HookAction {
  if (event === 'ping') return 'ping';
  return event === 'push' ? 'trigger' : 'ignore';
}

/**
 * GitLab events: `Push Hook` and `Tag Push Hook` start a pass (GitLab's "Test" button sends a `Push Hook`
 * too); everything else (merge requests, pipelines, system hooks) is ignored.
 */
export function gitlabAction(event: string | undefined): HookAction {
  return event === 'Push Hook' || event === 'Tag Push Hook' ? 'trigger' : 'ignore';
}

/** Thrown by {@link readBody} when the body is larger than allowed. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads a request body up to `limit` bytes. A `Content-Length` above the limit is refused before any byte
 * is read; a chunked body is counted as it arrives and reading stops at the first byte over the limit.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    function cleanup(): void {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
