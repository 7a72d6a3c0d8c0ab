/**
 * `GET /api/plan?ref=REF[&sha=SHA][&format=json|markdown]` and `POST /api/plan` with `{ ref, sha?, format? }`
 * (issue 13 part 2): the plan of an unmerged ref of the configured repository, made by the controller with
 * its own store and trusted connections, writing nothing. This module is the HTTP side only: the bearer
 * token (404 without one configured, like `/api/reconcile`), a per-client rate limit, one plan at a time
 * (429 with Retry-After when busy), a deadline (504), and the answer in JSON or Markdown. What a plan is
 * made of is the injected {@link RemotePlanner}'s business.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Plan } from '../reconcile/plan.js';
import { BodyTooLargeError, bearerMatches, readBody } from './webhook.js';

/** What a remote plan answers with (the JSON format). */
export interface RemotePlanResult {
  /** The ref as asked. */
  ref: string;
  /** The commit planned. */
  sha: string;
  /** The revision in force that the ref was compared with (whose credentials were used). */
  trustedRevision: string;
  plan: Plan;
}

/** A refusal the planner explains: its HTTP status, a message, and for an invalid config the problems. */
export class RemotePlanError extends Error {
  override readonly name = 'RemotePlanError';
  constructor(
    readonly status: 400 | 404 | 422 | 502 | 503,
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Makes the plan of one ref; throws RemotePlanError for what the client should see. */
export type RemotePlanner = (ref: string, sha: string | undefined, signal: AbortSignal) => Promise<RemotePlanResult>;

/** Options of the plan endpoint. */
export interface PlanApiOptions {
  planner: RemotePlanner;
  /** Renders a plan as Markdown (cli/views, injected: server/ does not import cli/). */
  renderMarkdown(plan: Plan): string;
  /** How long one plan may take before it is cancelled and answered 504. Default 120 s. */
  deadlineMs?: number;
  /** Requests per client address and window. Default 30. */
  rateLimit?: number;
  /** The rate-limit window. Default 60 s. */
  rateWindowMs?: number;
  /** Clock of the rate limit (tests pass a manual one). */
  now?: () => number;
}

/** What `http.ts` calls. */
export interface PlanApi {
  handle(req: IncomingMessage, res: ServerResponse, ctx: { apiToken: string | undefined; /** The client's address (client-address.ts). */ client: string; log: Logger; sendJson: (res: ServerResponse, status: number, value: unknown) => void; send: (res: ServerResponse, status: number, body: string, type: string) => void }): Promise<void>;
}

const MAX_BODY = 16 * 1024;
/** Longest ref accepted (git allows longer, but no branch or pull request head of a config repository needs it). */
const MAX_REF = 255;
const FORMATS = ['json', 'markdown'] as const;
type Format = (typeof FORMATS)[number];

/** Creates the handler of `/api/plan`. */
export function createPlanApi(opts: PlanApiOptions): PlanApi {
  const now = opts.now ?? Date.now;
  const windowMs = opts.rateWindowMs ?? 60_000;
  const limit = opts.rateLimit ?? 30;
  const deadlineMs = opts.deadlineMs ?? 120_000;
  const windows = new Map<string, { start: number; count: number }>();
  let busySince: number | null = null;

  return {
    async handle(req, res, ctx) {
      const { sendJson, log } = ctx;
      if (!ctx.apiToken) {
        req.resume();
        return sendJson(res, 404, { error: 'remote plans are disabled: no API token is configured' });
      }
      if (!bearerMatches(header(req, 'authorization'), ctx.apiToken)) {
        req.resume();
        log.warn({ path: '/api/plan' }, 'remote plan rejected: missing or wrong bearer token');
        res.setHeader('WWW-Authenticate', 'Bearer realm="depctl"');
        return sendJson(res, 401, { error: 'a valid bearer token is required' });
      }
      // Per client address, fixed windows; stale windows are dropped so the map stays small.
      const client = ctx.client;
      const t = now();
      for (const [k, w] of windows) if (t - w.start >= windowMs) windows.delete(k);
      const w = windows.get(client) ?? { start: t, count: 0 };
      windows.set(client, w);
      if (w.count >= limit) {
        req.resume();
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil((w.start + windowMs - t) / 1000))));
        return sendJson(res, 429, { error: `rate limit: at most ${limit} plan requests per ${Math.round(windowMs / 1000)} s from one client` });
      }
      w.count++;

      let params: { ref?: unknown; sha?: unknown; format?: unknown };
      try {
        params = await requestParams(req);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          req.resume();
          return sendJson(res, 413, { error: err.message });
        }
        return sendJson(res, 400, { error: (err as Error).message });
      }
      const { ref, sha } = params;
      const format = params.format ?? 'json';
      if (typeof ref !== 'string' || ref === '' || ref.length > MAX_REF) return sendJson(res, 400, { error: `ref is required, at most ${MAX_REF} characters (a branch, refs/pull/N/head, refs/merge-requests/N/head or a commit id)` });
      if (sha !== undefined && typeof sha !== 'string') return sendJson(res, 400, { error: 'sha must be a string' });
      if (typeof format !== 'string' || !(FORMATS as readonly string[]).includes(format)) return sendJson(res, 400, { error: `format must be one of ${FORMATS.join(', ')}` });

      if (busySince !== null) {
        // One plan at a time: a plan fetches, reads the store and calls Apple; a queue would only grow.
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil((busySince + deadlineMs - t) / 1000))));
        return sendJson(res, 429, { error: 'a remote plan is already running for this repository; try again shortly' });
      }
      busySince = t;
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), deadlineMs);
      // A client that goes away cancels its plan.
      const gone = (): void => deadline.abort();
      res.on('close', gone);
      // Busy until the plan has really ended, even when its answer was a 504 (it stops at the abort).
      const work = opts.planner(ref, sha, deadline.signal);
      void work.catch(() => undefined).finally(() => {
        busySince = null;
      });
      try {
        const result = await Promise.race([
          work,
          new Promise<never>((_, reject) => deadline.signal.addEventListener('abort', () => reject(new DeadlineError()), { once: true })),
        ]);
        log.info({ ref, sha: result.sha.slice(0, 12), changes: result.plan.summary }, 'remote plan served');
        if ((format as Format) === 'markdown') {
          res.setHeader('X-Depctl-Ref', encodeURIComponent(result.ref));
          res.setHeader('X-Depctl-Sha', result.sha);
          res.setHeader('X-Depctl-Trusted-Revision', result.trustedRevision);
          const head = `<!-- depctl remote plan: ref ${result.ref.replace(/--/g, '- -')}, commit ${result.sha}, compared with revision ${result.trustedRevision} -->\n`;
          return ctx.send(res, 200, head + opts.renderMarkdown(result.plan), 'text/markdown; charset=utf-8');
        }
        return sendJson(res, 200, result);
      } catch (err) {
        if (err instanceof DeadlineError) {
          log.warn({ ref, deadlineMs }, 'remote plan cancelled at its deadline');
          return sendJson(res, 504, { error: `the plan did not finish within ${Math.round(deadlineMs / 1000)} s and was cancelled` });
        }
        if (err instanceof RemotePlanError) {
          log.info({ ref, status: err.status }, `remote plan refused: ${err.message}`);
          return sendJson(res, err.status, { error: err.message, ...(err.problems.length > 0 ? { problems: [...err.problems] } : {}) });
        }
        throw err;
      } finally {
        clearTimeout(timer);
        res.off('close', gone);
      }
    },
  };
}

class DeadlineError extends Error {}

async function requestParams(req: IncomingMessage): Promise<{ ref?: unknown; sha?: unknown; format?: unknown }> {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const fromQuery = {
    ...(query.has('ref') ? { ref: query.get('ref') } : {}),
    ...(query.has('sha') ? { sha: query.get('sha') } : {}),
    ...(query.has('format') ? { format: query.get('format') } : {}),
  };
  if (req.method !== 'POST') {
    req.resume();
    return fromQuery;
  }
  const body = await readBody(req, MAX_BODY);
  if (body.length === 0) return fromQuery;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Error('the body must be JSON: { "ref": "...", "sha": "...", "format": "json" }');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the body must be a JSON object');
  const o = parsed as Record<string, unknown>;
  return { ...fromQuery, ...(o['ref'] !== undefined ? { ref: o['ref'] } : {}), ...(o['sha'] !== undefined ? { sha: o['sha'] } : {}), ...(o['format'] !== undefined ? { format: o['format'] } : {}) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
