/**
 * The controller's HTTP server (DESIGN.md `depctl run --listen`): health and readiness probes, Prometheus
 * metrics, the status snapshot as JSON and as an HTML page, a manual trigger and the git webhook. Plain
 * node:http with a fixed route table; it only reads what the loop publishes and calls `trigger()`, so it
 * never blocks or changes a pass (STYLE rule 6). Everything it needs is passed in (STYLE rule 9).
 *
 * `/api/plan` plans unmerged refs (plan-api.ts) and `/api/openapi.json` describes every `/api/*` route (openapi.ts).
 *
 * Disabled features look like absent routes: without `apiToken`, `POST /api/reconcile` and `/api/plan` answer 404, and
 * without a webhook secret `POST /hooks/git` does too, each with a body that says what enables it. A 403
 * would suggest that some other credential might work, and none can.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ControllerStatus } from '../reconcile/status.js';
import type { LoopTrigger } from '../reconcile/ports.js';
import type { ControllerMetrics } from './metrics.js';
import type { TriggerResult } from '../reconcile/trigger-relay.js';
import type { PlanApi } from './plan-api.js';
import { openApiDocument } from './openapi.js';
import { renderStatusPage } from './status-page.js';
import { STATUS_PAGE_CSP } from './status-page-style.js';
import { clientAddress, type TrustedProxies } from './client-address.js';
import { AuthGuard } from './auth-guard.js';
import { BodyTooLargeError, bearerMatches, githubAction, githubSignatureValid, gitlabAction, gitlabTokenValid, readBody, type HookAction } from './webhook.js';

/** Liveness and readiness as the composition root sees them. */
export interface HealthReport {
  /** False only when the process is wedged (the loop stopped making progress); a restart is the cure. */
  live: boolean;
  /** True when the controller serves its purpose (a valid revision is loaded, the store is reachable). */
  ready: boolean;
  /** Why it is not live or not ready, shown in the probe's body. */
  reason?: string;
}

/** Git webhook settings; at least one secret enables `POST /hooks/git`. */
export interface WebhookOptions {
  /** The secret of a GitHub webhook (checked against `X-Hub-Signature-256`). */
  githubSecret?: string;
  /** The secret token of a GitLab webhook (checked against `X-Gitlab-Token`). */
  gitlabToken?: string;
  /** Largest accepted body; larger deliveries get 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

/** What {@link startControlServer} needs. */
export interface ControlServerOptions {
  /** `HOST:PORT` (`[::1]:8080` for IPv6, `:8080` for every IPv4 interface); port 0 picks a free port. */
  listen: string;
  /** The loop's latest snapshot (its `current()`); read on every request, never cached. */
  status: () => ControllerStatus;
  /** The controller's metrics; the server makes each scrape refresh the status gauges from `status`. */
  metrics: ControllerMetrics;
  /** Answers `/healthz` and `/readyz`; `healthFromStatus` (health.ts) derives one from the snapshot. */
  health: () => HealthReport;
  /**
   * Asks for a pass now: the loop's `trigger`, or on HA replicas a TriggerRouter's `route`, which relays it to
   * the leader and may refuse (answered 503 with Retry-After). `source` says who asked (`api`, `github`,
   * `gitlab`). Nothing returned counts as queued locally.
   */
  trigger(reason: Extract<LoopTrigger, 'manual' | 'webhook'>, source: string): void | TriggerResult | Promise<TriggerResult>;
  /** Bearer token for endpoints that change anything; without it they answer 404. */
  apiToken?: string;
  /** `GET|POST /api/plan` (plan-api.ts): plans of unmerged refs; absent, the route answers 404 like a disabled one. */
  planApi?: PlanApi;
  webhook?: WebhookOptions;
  /** Rejections at warn, triggers at info, each request at debug (method, path without query, status, ms). */
  logger: Logger;
  /** Clock for the "in 3 min" hints on the status page. Default: the system clock. */
  now?: () => Date;
  /** Seconds between automatic reloads of the status page (a meta refresh, no script); 0 turns them off. Default 30. */
  pageRefreshSeconds?: number;
  /** The enrollment endpoint (controller/enroll, issue 14): `POST /enroll/PROFILE`; without it those paths are 404. */
  enroll?: EnrollRoute;
  /**
   * Read authentication for the status page and `/api/status` (`--read-token`): a bearer token, or HTTP Basic
   * with the token as password (browsers prompt for it). The API token is accepted too. Absent, they are open.
   */
  readToken?: string;
  /** Slows failed authentication down per client address (auth-guard.ts); one with the server's clock by default. */
  authGuard?: AuthGuard;
  /**
   * Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`, client-address.ts); without
   * them the client is the socket's peer.
   */
  trustedProxies?: TrustedProxies;
}

/** What the server needs of the enrollment endpoint: a body limit and a handler of the read body. */
export interface EnrollRoute {
  maxBodyBytes: number;
  /** `body` is null when it was over `maxBodyBytes` (the handler answers 413). */
  handle(profile: string, body: Buffer | null): Promise<{ status: number; contentType: string; body: Buffer }>;
}

/** A running control server. */
export interface ControlServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`, with the port actually bound. */
  url: string;
  /** Stops listening and closes open connections (browsers keep them alive). */
  close(): Promise<void>;
}

/** The default webhook body limit: GitHub caps payloads at 25 MB, but a push event is a few KiB. */
export const DEFAULT_WEBHOOK_MAX_BODY = 1024 * 1024;
/** Request headers: at most this many bytes (Node's default, stated) and this many fields. */
export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_HEADERS = 100;
/** Body limit of routes that read no body (probes, status, metrics, the manual trigger). */
export const NO_BODY_BYTES = 16 * 1024;
/** Body limit of `POST /api/plan` (a ref and a commit id, as JSON or a form), as plan-api.ts reads it. */
export const PLAN_BODY_BYTES = 16 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
type Method = 'GET' | 'POST';

/** Splits `HOST:PORT` into its parts; throws on anything else. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`invalid listen address "${listen}": expected HOST:PORT, e.g. 127.0.0.1:8080`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Starts the control server and resolves once it listens. */
export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const { host, port } = parseListen(opts.listen);
  const log = opts.logger;
  const now = opts.now ?? ((): Date => new Date());
  const maxBody = opts.webhook?.maxBodyBytes ?? DEFAULT_WEBHOOK_MAX_BODY;
  opts.metrics.setStatusSource(opts.status);
  const guard = opts.authGuard ?? new AuthGuard({ now: () => now().getTime() });

  /** The client's address: the socket's peer, or behind a trusted proxy the address it forwards (client-address.ts). */
  const clientOf = (req: IncomingMessage): string => clientAddress(req, opts.trustedProxies ?? null);

  /** Answers 429 and returns false while the client waits after failed attempts; credentials are not looked at. */
  function admitted(req: IncomingMessage, res: ServerResponse, route: string): boolean {
    const waitMs = guard.blocked(clientOf(req));
    if (waitMs === 0) return true;
    req.resume();
    opts.metrics.recordAuthFailure(route, 'blocked');
    res.setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
    sendJson(res, 429, { error: 'too many failed authentication attempts from this address; try again later' });
    return false;
  }

  /**
   * Records a failed authentication and answers it: 401 (with `challenge`) while the client has free attempts,
   * 429 with Retry-After once it must wait. Logged at the first failure of a window and at the first block,
   * never per request; the address is logged, never what it sent.
   */
  function refuse(req: IncomingMessage, res: ServerResponse, route: string, reason: string, challenge: string): void {
    req.resume();
    const client = clientOf(req);
    const verdict = guard.failed(client);
    if (verdict.retryAfterMs > 0) {
      opts.metrics.recordAuthFailure(route, 'blocked');
      if (verdict.firstBlock) log.warn({ route, client, retryAfterSeconds: Math.ceil(verdict.retryAfterMs / 1000) }, 'authentication failures: client must wait');
      res.setHeader('Retry-After', String(Math.ceil(verdict.retryAfterMs / 1000)));
      return sendJson(res, 429, { error: 'too many failed authentication attempts from this address; try again later' });
    }
    opts.metrics.recordAuthFailure(route, 'rejected');
    if (verdict.firstInWindow) log.warn({ route, client, reason }, 'authentication failed');
    res.setHeader('WWW-Authenticate', challenge);
    sendJson(res, 401, { error: reason });
  }

  /** True when the request may read the status (no read token configured, or a right one sent). */
  function readAllowed(req: IncomingMessage, res: ServerResponse, route: string, challenge: string): boolean {
    if (!opts.readToken) return true;
    if (!admitted(req, res, route)) return false;
    const auth = header(req, 'authorization');
    const tokens = [opts.readToken, ...(opts.apiToken ? [opts.apiToken] : [])];
    if (tokens.some((t) => bearerMatches(auth, t) || basicPasswordMatches(auth, t))) {
      guard.succeeded(clientOf(req));
      return true;
    }
    refuse(req, res, route, 'this page needs the read token', challenge);
    return false;
  }

  const routes = new Map<string, Partial<Record<Method, Handler>>>(Object.entries({
    '/healthz': {
      GET: (_req, res) => {
        const h = probe(opts.health);
        sendText(res, h.live ? 200 : 503, h.live ? 'ok\n' : `not live: ${h.reason ?? 'unknown'}\n`);
      },
    },
    '/readyz': {
      GET: (_req, res) => {
        const h = probe(opts.health);
        sendText(res, h.ready ? 200 : 503, h.ready ? 'ok\n' : `not ready: ${h.reason ?? 'unknown'}\n`);
      },
    },
    '/metrics': {
      GET: async (_req, res) => {
        const text = await opts.metrics.registry.metrics();
        send(res, 200, text, opts.metrics.registry.contentType);
      },
    },
    '/api/status': {
      GET: (req, res) => {
        if (readAllowed(req, res, 'read', 'Bearer realm="depctl"')) sendJson(res, 200, opts.status());
      },
    },
    '/': {
      GET: (req, res) => {
        if (!readAllowed(req, res, 'read', 'Basic realm="depctl status", charset="UTF-8"')) return;
        const html = renderStatusPage(opts.status(), { now: now(), refreshSeconds: opts.pageRefreshSeconds ?? 30 });
        res.setHeader('Content-Security-Policy', STATUS_PAGE_CSP);
        res.setHeader('X-Frame-Options', 'DENY');
        send(res, 200, html, 'text/html; charset=utf-8');
      },
    },
    '/api/reconcile': {
      POST: async (req, res) => {
        req.resume();
        if (!opts.apiToken) return sendJson(res, 404, { error: 'manual trigger is disabled: no API token is configured' });
        if (!admitted(req, res, 'api')) return;
        if (!bearerMatches(header(req, 'authorization'), opts.apiToken)) return refuse(req, res, 'api', 'a valid bearer token is required', 'Bearer realm="depctl"');
        guard.succeeded(clientOf(req));
        const result = await opts.trigger('manual', 'api');
        if (result?.kind !== 'refused') log.info({ relayed: result?.kind === 'relayed' }, 'reconcile triggered by API');
        answerTrigger(res, 'manual', result);
      },
    },
    '/api/plan': { GET: (req, res) => planRoute(req, res), POST: (req, res) => planRoute(req, res) },
    '/api/openapi.json': { GET: (_req, res) => sendJson(res, 200, openApi ?? (openApi = openApiDocument())) },
    '/hooks/git': { POST: (req, res) => gitHook(req, res) },
  } satisfies Record<string, Partial<Record<Method, Handler>>>));

  let openApi: Record<string, unknown> | undefined;
  function planRoute(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
    if (!opts.planApi || !opts.apiToken) {
      req.resume();
      return sendJson(res, 404, { error: 'remote plans are disabled: no API token is configured' });
    }
    // The token is checked here first, so that failures count against the client like the other routes'.
    if (!admitted(req, res, 'plan')) return;
    if (!bearerMatches(header(req, 'authorization'), opts.apiToken)) return refuse(req, res, 'plan', 'a valid bearer token is required', 'Bearer realm="depctl"');
    guard.succeeded(clientOf(req));
    return opts.planApi.handle(req, res, { apiToken: opts.apiToken, client: clientOf(req), log, sendJson, send });
  }

  async function gitHook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cfg = opts.webhook;
    if (!cfg?.githubSecret && !cfg?.gitlabToken) {
      req.resume();
      return sendJson(res, 404, { error: 'webhook is disabled: no GitHub secret or GitLab token is configured' });
    }
    if (!admitted(req, res, 'webhook')) return;
    const signature = header(req, 'x-hub-signature-256');
    const gitlab = header(req, 'x-gitlab-token');
    // Only the provider and a fixed reason are logged (once per window): never the secret, signature or token sent.
    const reject = (provider: string, reason: string): void => refuse(req, res, 'webhook', `webhook rejected (${provider}): ${reason}`, 'Bearer realm="depctl webhook"');
    let action: HookAction;
    let provider: 'github' | 'gitlab';
    try {
      if (signature !== undefined) {
        provider = 'github';
        if (!cfg.githubSecret) return reject(provider, 'no GitHub secret is configured');
        // The HMAC covers the raw body, so the body is read (up to the limit) before it can be checked.
        const body = await readBody(req, maxBody);
        if (!githubSignatureValid(signature, body, cfg.githubSecret)) return reject(provider, 'signature mismatch');
        action = githubAction(header(req, 'x-github-event'));
      } else if (gitlab !== undefined) {
        provider = 'gitlab';
        // The token is a header, so a wrong one is refused before any of the body is read.
        if (!cfg.gitlabToken || !gitlabTokenValid(gitlab, cfg.gitlabToken)) return reject(provider, 'token mismatch');
        await readBody(req, maxBody);
        action = gitlabAction(header(req, 'x-gitlab-event'));
      } else {
        return reject('unknown', 'no X-Hub-Signature-256 or X-Gitlab-Token header');
      }
    } catch (err) {
      if (!(err instanceof BodyTooLargeError)) throw err;
      // Discard the rest rather than closing the socket under a client that is still sending.
      req.resume();
      log.warn({ limit: maxBody }, 'webhook rejected: body too large');
      return sendJson(res, 413, { error: err.message });
    }
    guard.succeeded(clientOf(req));
    if (action === 'ping') return sendJson(res, 200, { ok: true, event: 'ping' });
    if (action === 'ignore') return sendJson(res, 200, { ok: true, ignored: true });
    const result = await opts.trigger('webhook', provider);
    if (result?.kind !== 'refused') log.info({ provider, relayed: result?.kind === 'relayed' }, 'reconcile triggered by webhook');
    answerTrigger(res, 'webhook', result);
  }

  async function enrollRoute(req: IncomingMessage, res: ServerResponse, path: string, enroll: EnrollRoute): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('Allow', 'POST');
      return sendJson(res, 405, { error: `method ${req.method ?? ''} not allowed` });
    }
    let profile: string;
    try {
      profile = decodeURIComponent(path.slice('/enroll/'.length));
    } catch {
      profile = '';
    }
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(profile)) {
      req.resume();
      return sendJson(res, 404, { error: 'no enrollment is served for this profile' });
    }
    let body: Buffer | null;
    try {
      body = await readBody(req, enroll.maxBodyBytes);
    } catch (err) {
      if (!(err instanceof BodyTooLargeError)) throw err;
      // Discard the rest rather than closing the socket under a client that is still sending.
      req.resume();
      body = null;
    }
    const answer = await enroll.handle(profile, body);
    res.statusCode = answer.status;
    res.setHeader('Content-Type', answer.contentType);
    res.setHeader('Content-Length', answer.body.length);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.end(answer.body);
  }

  function failed(res: ServerResponse, path: string, err: unknown): void {
    log.error({ path, err: (err as Error).message }, 'http handler failed');
    if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    else res.destroy();
  }

  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    res.on('finish', () => log.debug({ method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'http request'));
    // Every route has a body limit: the webhook's and the enrollment's own, a small one for the plan request,
    // and for routes that read no body a few KiB. A declared length over it is refused before anything runs;
    // an undeclared (chunked) body on a route that reads none is cut off at the limit.
    // A disabled route answers 404 whatever the body: only routes that are on (and read a body) refuse by length.
    const webhookOn = Boolean(opts.webhook?.githubSecret ?? opts.webhook?.gitlabToken);
    const reads = (path === '/hooks/git' && webhookOn) || (path === '/api/plan' && opts.planApi !== undefined) || (path.startsWith('/enroll/') && opts.enroll !== undefined);
    const limit = !reads ? NO_BODY_BYTES : path === '/hooks/git' ? maxBody : path === '/api/plan' ? PLAN_BODY_BYTES : (opts.enroll?.maxBodyBytes ?? NO_BODY_BYTES);
    const declared = Number(req.headers['content-length'] ?? 0);
    if ((reads || routes.has(path)) && !path.startsWith('/enroll/') && Number.isFinite(declared) && declared > limit) {
      res.setHeader('Connection', 'close');
      sendJson(res, 413, { error: `request body of ${declared} bytes is over this route's limit of ${limit}` });
      res.on('finish', () => req.destroy());
      return;
    }
    if (!reads) {
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > limit) req.destroy();
      });
    }
    // The one prefix route: the profile name is part of the path (issue 14).
    if (opts.enroll && path.startsWith('/enroll/')) return void enrollRoute(req, res, path, opts.enroll).catch((err: unknown) => failed(res, path, err));
    const route = routes.get(path);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (!route) {
      req.resume();
      return sendJson(res, 404, { error: 'not found' });
    }
    const handler = route[method as Method];
    if (!handler) {
      req.resume();
      const allow = Object.keys(route).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
      res.setHeader('Allow', allow.join(', '));
      return sendJson(res, 405, { error: `method ${req.method ?? ''} not allowed` });
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        log.error({ path, err: (err as Error).message }, 'http handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
  });
  // Bound slow clients: a webhook or a scrape takes well under these.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = MAX_HEADERS;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url }, 'control server listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * The answer to a trigger: 202 when this replica queued the pass or the leader acknowledged the relayed
 * trigger (`relayedTo: "leader"`), 503 with Retry-After when a follower could not hand it over.
 */
function answerTrigger(res: ServerResponse, reason: 'manual' | 'webhook', result: void | TriggerResult): void {
  if (!result || result.kind === 'local') return sendJson(res, 202, { triggered: true, reason });
  if (result.kind === 'relayed') return sendJson(res, 202, { triggered: true, reason, relayedTo: 'leader', leader: result.leader });
  res.setHeader('Retry-After', String(result.retryAfterSeconds));
  sendJson(res, 503, { triggered: false, reason, error: result.reason });
}

function probe(health: () => HealthReport): HealthReport {
  try {
    return health();
  } catch (err) {
    return { live: false, ready: false, reason: `health check failed: ${(err as Error).message}` };
  }
}

/** True when `Authorization: Basic` carries `token` as its password (any user name), compared in constant time. */
function basicPasswordMatches(auth: string | undefined, token: string): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth ?? '');
  if (!m) return false;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return false;
  const given = createHash('sha256').update(decoded.slice(colon + 1)).digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function send(res: ServerResponse, status: number, body: string, contentType: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  // Every answer here describes the moment it was made: nothing may be cached or sniffed.
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.end(body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  send(res, status, text, 'text/plain; charset=utf-8');
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json; charset=utf-8');
}
