import { Option, type Command } from 'commander';
import type { Register } from './program.js';
import { ExitCode, UsageError, type CliIo } from './io.js';
import { openState, runtimeSettings } from './runtime.js';
import type { Store } from '../store/index.js';
import { recentRuns, serverDetails } from '../reconcile/status-details.js';
import type { ControllerStatus, ServerStatus } from '../reconcile/status.js';
import { STATUS_FORMATS, type StatusFormat, type StatusReport } from './views/status-common.js';
import { renderStatusText } from './views/status-text.js';
import { renderStatusJson } from './views/status-json.js';
import { examples } from './help.js';

/** How long `--url` waits for the controller's answer. */
export const STATUS_TIMEOUT_MS = 10_000;
/** The largest `/api/status` body accepted (a status is a few KiB; this bounds a wrong URL). */
export const STATUS_MAX_BYTES = 4 * 1024 * 1024;

/** Options of `depctl status`. */
interface StatusOptions {
  format: StatusFormat;
  url?: string;
}

/**
 * Registers `depctl status`: the controller's status page in a terminal. With `--url` it asks a running
 * controller (`GET URL/api/status`); otherwise it reads the state store, which knows devices, results, retry
 * times, tokens and runs but not the controller's conditions and revisions (shown as unknown).
 */
export const registerStatus: Register = (program, io, setExit) => {
  program
    .command('status')
    .description('the status page in a terminal: from a running controller (--url) or from the state store')
    .addOption(new Option('--format <format>', 'output format').choices(STATUS_FORMATS).default('text'))
    .option('--url <url>', 'a running controller (depctl run --listen): reads URL/api/status')
    .addHelpText('after', examples([
      ['depctl status --url http://127.0.0.1:8080', "a running controller's conditions, revisions, servers and runs"],
      ['depctl status --state sqlite:/var/lib/depctl/state.db', 'what the state store alone knows (no controller needed)'],
      ['depctl status --url http://127.0.0.1:8080 --format json', 'the same as JSON'],
    ]))
    .action(async (opts: StatusOptions, cmd: Command) => {
      const now = (io.now ?? (() => new Date()))();
      const report = opts.url !== undefined ? await fromController(opts.url, now, io) : await fromStore(cmd, io, now);
      io.stdout(opts.format === 'json' ? renderStatusJson(report) : renderStatusText(report, { now }));
      setExit(ExitCode.ok);
    });
};

/** The status URL of a controller: `URL/api/status`, unless the URL already names it. */
export function statusUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url ${raw}: not a URL (expected e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url ${raw}: only http and https URLs are supported`);
  if (url.pathname.replace(/\/+$/, '').endsWith('/api/status')) return url;
  return new URL('api/status', url.href.endsWith('/') ? url.href : `${url.href}/`);
}

/** Asks a running controller; a timeout, an HTTP error, an oversized or malformed body fail the command. */
async function fromController(raw: string, now: Date, io: CliIo): Promise<StatusReport> {
  const url = statusUrl(raw);
  // Credentials in the URL (a proxy in front of the controller) travel as Basic auth, never in the request
  // line, and are never printed back: fetch refuses such URLs with a message that repeats them.
  const headers: Record<string, string> = { accept: 'application/json' };
  if (url.username !== '' || url.password !== '') {
    headers['authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const shown = `${url.origin}${url.pathname}`;
  const signal = io.signal ? AbortSignal.any([io.signal, AbortSignal.timeout(STATUS_TIMEOUT_MS)]) : AbortSignal.timeout(STATUS_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, { signal, headers, redirect: 'error' });
  } catch (err) {
    const reason = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? `no answer within ${STATUS_TIMEOUT_MS / 1000} s` : err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new Error(`cannot read the controller's status at ${shown}: ${reason}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`cannot read the controller's status at ${shown}: HTTP ${res.status}`);
  }
  const text = await boundedText(res, STATUS_MAX_BYTES, shown);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`the answer of ${shown} is not JSON (is this a depctl controller?)`);
  }
  const s = parsed as Partial<ControllerStatus> | null;
  if (s === null || typeof s !== 'object' || !Array.isArray(s.conditions) || !Array.isArray(s.servers) || !Array.isArray(s.recentRuns)) {
    throw new Error(`the answer of ${shown} is not a depctl status (no conditions, servers and recentRuns)`);
  }
  const status = s as ControllerStatus;
  return {
    source: { kind: 'controller', url: shown },
    generatedAt: now.toISOString(),
    controller: {
      phase: status.phase,
      leader: status.leader,
      conditions: status.conditions,
      lastAppliedRevision: status.lastAppliedRevision ?? null,
      lastAttemptedRevision: status.lastAttemptedRevision ?? null,
      refusedRevision: status.refusedRevision ?? null,
      nextRunAt: status.nextRunAt ?? null,
      lastError: status.lastError ?? null,
      version: status.version,
    },
    servers: status.servers,
    ...(Array.isArray(status.credentials) ? { credentials: status.credentials } : {}),
    ...(Array.isArray(status.organizations) ? { organizations: status.organizations } : {}),
    recentRuns: status.recentRuns,
  };
}

/** Reads a response body, refusing more than `max` bytes. */
async function boundedText(res: Response, max: number, shown: string): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  const tooLarge = (): Error => new Error(`the answer of ${shown} is larger than ${max / 1024 / 1024} MiB; is this a depctl controller?`);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What the store alone can say: every server it holds, its devices, results, retries, token and the last runs. */
async function fromStore(cmd: Command, io: CliIo, now: Date): Promise<StatusReport> {
  const store = await openState(runtimeSettings(cmd, io), io);
  try {
    const servers = await serverDetails(await store.listServers(), store, now);
    for (const s of servers) if (s.deferred > 0 && s.retries === null) s.retries = await deferredGroups(store, s, now);
    return { source: { kind: 'store', backend: store.backend }, generatedAt: now.toISOString(), controller: null, servers, recentRuns: await recentRuns(store) };
  } finally {
    await store.close();
  }
}

/**
 * Groups a server's deferred devices by next try, Apple's last answer and attempts, as a pass would plan
 * them (diff.ts `defer`). Without a pass the store has only the count, so this reads the server's devices;
 * it runs only when some device waits.
 */
async function deferredGroups(store: Store, s: ServerStatus, now: Date): Promise<NonNullable<ServerStatus['retries']>> {
  const groups = new Map<string, { until: string; lastStatus: string; attempts: number; count: number }>();
  for await (const page of store.iterateDevices(s.name)) {
    for (const d of page) {
      if (d.retryNotBefore === null || d.retryNotBefore.getTime() <= now.getTime()) continue;
      const until = d.retryNotBefore.toISOString();
      const lastStatus = d.lastResult?.appleStatus ?? d.lastResult?.status ?? 'unknown';
      const key = `${until}\u0000${lastStatus}\u0000${d.attempts}`;
      const g = groups.get(key) ?? { until, lastStatus, attempts: d.attempts, count: 0 };
      g.count++;
      groups.set(key, g);
    }
  }
  return [...groups.values()].sort((a, b) => a.until.localeCompare(b.until) || a.lastStatus.localeCompare(b.lastStatus));
}
