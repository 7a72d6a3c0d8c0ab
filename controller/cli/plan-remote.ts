/**
 * `depctl plan --remote URL --ref REF [--sha SHA]` (issue 13 part 2): asks a running controller for the plan
 * of a pull request, so CI holds neither DEP tokens nor store credentials, only the controller's API token
 * (from DEPCTL_API_TOKEN, never a flag that would land in shell history or CI logs). The plan comes back as
 * JSON and is rendered here like a local plan; the exit codes are those of `depctl plan`.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExitCode, UsageError, type CliIo } from './io.js';
import { hasChanges, type Plan } from '../reconcile/plan.js';
import type { PlanFormat } from './views/plan-common.js';
import { renderPlanText } from './views/plan-text.js';
import { renderPlanMarkdown } from './views/plan-markdown.js';
import { renderPlanJson } from './views/plan-json.js';

/** How long the CLI waits for the controller (its own deadline is shorter). */
export const REMOTE_PLAN_TIMEOUT_MS = 10 * 60_000;
/** Largest answer read (a plan of a million changes stays well below). */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

/** Options of a remote plan. */
export interface RemotePlanCliOptions {
  remote: string;
  ref: string;
  sha?: string;
  format: PlanFormat;
  color: boolean;
  detailedExitcode: boolean;
  out?: string;
}

/** What the controller answers (server/plan-api.ts RemotePlanResult, as JSON). */
interface RemoteAnswer {
  ref: string;
  sha: string;
  trustedRevision: string;
  plan: Plan;
}

/** The plan endpoint of a controller URL (`http://host:8080`, with or without a trailing path). */
export function planEndpoint(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--remote ${raw}: not a URL (expected e.g. https://depctl.example.com)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--remote: only http and https URLs are supported`);
  if (url.username !== '' || url.password !== '') throw new UsageError('--remote: put no credentials in the URL; the API token is read from DEPCTL_API_TOKEN');
  url.search = '';
  url.hash = '';
  const base = url.href.replace(/\/+$/, '').replace(/\/api\/plan$/, '');
  return new URL(`${base}/api/plan`);
}

/** Runs a remote plan: prints it and returns the exit code (0, 2 with --detailed-exitcode and changes, 1). */
export async function runRemotePlan(opts: RemotePlanCliOptions, io: CliIo): Promise<number> {
  const token = io.env['DEPCTL_API_TOKEN'];
  if (!token) throw new UsageError('--remote needs the controller\'s API token in the environment variable DEPCTL_API_TOKEN');
  if (opts.ref.trim() === '') throw new UsageError('--remote needs --ref (a branch, refs/pull/N/head, or a commit id)');
  const url = planEndpoint(opts.remote);
  url.searchParams.set('ref', opts.ref);
  if (opts.sha !== undefined) url.searchParams.set('sha', opts.sha);
  url.searchParams.set('format', 'json');
  const shown = `${url.origin}${url.pathname}`;
  const signal = io.signal ? AbortSignal.any([io.signal, AbortSignal.timeout(REMOTE_PLAN_TIMEOUT_MS)]) : AbortSignal.timeout(REMOTE_PLAN_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { accept: 'application/json', authorization: `Bearer ${token}` }, redirect: 'error' });
  } catch (err) {
    const reason = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? `no answer within ${REMOTE_PLAN_TIMEOUT_MS / 1000} s` : err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    io.stderr(`depctl: cannot reach the controller at ${shown}: ${reason}\n`);
    return ExitCode.failure;
  }
  const text = await boundedText(res, shown);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    io.stderr(`depctl: the answer of ${shown} (HTTP ${res.status}) is not JSON (is this a depctl controller?)\n`);
    return ExitCode.failure;
  }
  if (res.status !== 200) {
    io.stderr(`depctl: ${refusal(res, body, shown)}\n`);
    return ExitCode.failure;
  }
  const answer = body as Partial<RemoteAnswer> | null;
  if (!answer || typeof answer !== 'object' || typeof answer.sha !== 'string' || typeof answer.trustedRevision !== 'string' || !answer.plan || answer.plan.version !== 1) {
    io.stderr(`depctl: the answer of ${shown} is not a depctl remote plan\n`);
    return ExitCode.failure;
  }
  const { plan } = answer as RemoteAnswer;
  const about = `plan of ${opts.ref} at ${answer.sha.slice(0, 12)}, compared with the controller's revision ${answer.trustedRevision.slice(0, 12)}`;
  if (opts.format === 'json') io.stdout(renderPlanJson(plan));
  else if (opts.format === 'markdown') io.stdout(`<!-- depctl ${about.replace(/--/g, '- -')} -->\n${renderPlanMarkdown(plan)}`);
  else io.stdout(`depctl: ${about}\n\n${renderPlanText(plan, { color: opts.color })}`);
  if (opts.out) await writeFile(resolve(io.cwd, opts.out), renderPlanJson(plan));
  if (remotePlanHasErrors(plan)) return ExitCode.failure;
  return opts.detailedExitcode && hasChanges(plan) ? 2 : ExitCode.ok;
}

/**
 * Errors that fail a remote plan: as a local plan's (server errors, device conflicts), except the servers
 * planned after merge only (new, or changing credentials or endpoints), which the plan names and which
 * reviewers must look at but which are not a failure of the pull request.
 */
export function remotePlanHasErrors(plan: Plan): boolean {
  if (plan.summary.conflicts > 0) return true;
  return plan.servers.some((s) => s.error !== null && s.problem?.reason !== 'untrusted-credential-change');
}

function refusal(res: Response, body: unknown, shown: string): string {
  const error = body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : `HTTP ${res.status}`;
  const problems = body && typeof body === 'object' && Array.isArray((body as { problems?: unknown }).problems) ? ((body as { problems: unknown[] }).problems.filter((p) => typeof p === 'string') as string[]) : [];
  switch (res.status) {
    case 401:
      return `the controller at ${shown} refused the API token (401): check DEPCTL_API_TOKEN`;
    case 404:
      return `${shown} (404): ${error}`;
    case 429:
      return `the controller is busy or rate-limits this client (429): ${error}; retry after ${res.headers.get('retry-after') ?? 'a while'} s`;
    case 504:
      return `the controller gave up (504): ${error}`;
    case 422:
      return `${error}\n${problems.map((p) => `  ${p}`).join('\n')}`;
    default:
      return `the controller refused the plan (HTTP ${res.status}): ${error}`;
  }
}

async function boundedText(res: Response, shown: string): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new Error(`the answer of ${shown} is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
