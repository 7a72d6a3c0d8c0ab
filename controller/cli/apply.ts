import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Register } from './program.js';
import { ExitCode, UsageError } from './io.js';
import { collectServer, openSession, planHasErrors, renderPlan, type PlanCommandOptions } from './plan.js';
import { examples } from './help.js';
import { createProgress, progressWanted } from './progress.js';
import type { LeaderHolder, Store } from '../store/index.js';
import type { ApplyResult } from '../reconcile/apply.js';
import { LeadershipLostError, runPass } from '../reconcile/pass.js';
import type { PassOutcome } from '../reconcile/outcome.js';
import { hasAnyChanges, type Plan } from '../reconcile/plan.js';
import type { OrganizationApplyResult } from '../ownership/apply.js';
import type { PollResult } from '../ownership/poll.js';
import { PLAN_FORMATS } from './views/plan-common.js';
import { TOKEN_DOWNLOAD_STEP } from './views/plan-ownership.js';
import { adoptServers, describeAdoption, parseAdoptSpec, type AdoptSpec } from '../reconcile/identity.js';

/** Commander's collector for the repeatable `--adopt-server NAME[=UUID]` (also used by `depctl run`). */
export function collectAdoptSpec(value: string, previous: AdoptSpec[]): AdoptSpec[] {
  const spec = parseAdoptSpec(value);
  if (spec.server === '' || spec.expectUuid === '') throw new InvalidArgumentError('expected NAME or NAME=UUID');
  return [...previous, spec];
}

/** The lock `depctl run` leads with: `apply` takes it too, so two writers never fight over a server. */
export const WRITER_LOCK = 'depctl-controller';

/** "controller pid 1234 on host x since 2026-…" for the refusal message. */
export function describeHolder(h: LeaderHolder | null): string {
  if (!h) return 'another depctl';
  const parts = [h.owner ?? 'depctl', h.pid !== null ? `pid ${h.pid}` : '', h.host ? `on host ${h.host}` : '', h.since ? `since ${h.since.toISOString().replace(/\.\d{3}Z$/, 'Z')}` : ''];
  return `another depctl (${parts.filter(Boolean).join(' ')})`;
}

/** Takes the writer lock for this apply, or fails naming who holds it. Released when the store closes. */
export async function takeWriterLock(store: Store): Promise<void> {
  if (await store.tryAcquireLeadership(WRITER_LOCK, 'apply')) return;
  const holder = await store.leadershipHolder(WRITER_LOCK).catch(() => null);
  throw new Error(`${describeHolder(holder)} holds the lock; try again later`);
}

/** See {@link fenceWrites}. */
export interface WriteFence {
  /** `outer` and the fence: aborted with LeadershipLostError the moment the store reports the lock lost. */
  signal: AbortSignal;
  /** Checks the lock before a write to Apple (taking it again if nobody took it meanwhile). */
  beforeWrite: () => Promise<void>;
  /** Stops listening for the loss. */
  end: () => void;
}

/**
 * Fences a pass's writes to Apple on the writer lock (`depctl run` and `depctl apply`): the moment the store
 * reports the lock lost (PostgreSQL: its session ended; SQLite: taken over), the pass's calls in flight and the
 * retries still to come are cancelled, and each write checks the lock first. Without the first half, a write
 * Apple answered 503 was retried after another replica had taken over and planned the same work (the crash
 * soak: one profile content defined twice, by each replica).
 */
export function fenceWrites(store: Store, owner: 'controller' | 'apply', outer?: AbortSignal): WriteFence {
  const fence = new AbortController();
  const end = store.onLeadershipLost(WRITER_LOCK, () => fence.abort(new LeadershipLostError()));
  return {
    signal: outer ? AbortSignal.any([outer, fence.signal]) : fence.signal,
    beforeWrite: async () => {
      if (!(await store.tryAcquireLeadership(WRITER_LOCK, owner))) throw new LeadershipLostError();
    },
    end,
  };
}

/**
 * Registers `depctl apply [DIR]`: makes the plan (or checks a saved one is still what it would do), shows it,
 * and carries it out. Exit 0 converged, 1 on errors or a partial apply.
 */
export const registerApply: Register = (program, io, setExit) => {
  program
    .command('apply')
    .description('make Apple match the configuration (plan, then define, assign and remove)')
    .argument('[dir]', 'config directory', '.')
    .option('--yes', 'do not ask for confirmation', false)
    .option('--plan <file>', 'apply a plan saved by `depctl plan --out`; refused if the config or Apple moved since')
    .option('--allow-large', 'let servers whose plan exceeds their maxChanges proceed', false)
    .option('--refresh', 'do a full fetch of every server instead of a sync', false)
    .option('--retry-failed', 'retry serials Apple answered FAILED now instead of at their retry time (THROTTLED serials still wait for Apple)', false)
    .option(
      '--adopt-server <name[=uuid]>',
      'accept that the token of this server now belongs to another MDM server (stopped with server-changed): record the new server and forget the devices stored for the old one (repeatable; with =UUID only that Apple server is accepted)',
      collectAdoptSpec,
      [],
    )
    .addOption(new Option('--format <format>', 'how to show the plan before applying').choices(PLAN_FORMATS).default('text'))
    .option('--server <name>', 'apply only to this MdmServer (repeatable); the plan lists the servers left out', collectServer, [])
    .option('--no-color', 'no ANSI colours in text output')
    .addHelpText('after', examples([
      ['depctl apply config/', 'plan, show it, ask, then apply'],
      ['depctl apply --plan plan.json config/', 'apply a plan reviewed in a pull request (refused if it is stale)'],
      ['depctl apply --yes --server lyon config/', 'lyon only, without asking (CI)'],
    ]))
    .action(async (dir: string, opts: PlanCommandOptions & { yes: boolean; plan?: string; allowLarge: boolean; retryFailed: boolean; adoptServer: AdoptSpec[] }, cmd: Command) => {
      const saved = opts.plan ? await readSavedPlan(resolve(io.cwd, opts.plan)) : undefined;
      // The same lock as `depctl run`, taken before any token is read or anything is fetched.
      const session = await openSession(dir, cmd, io, { servers: opts.server, beforeConnect: takeWriterLock });
      const progress = createProgress(io, progressWanted(io, opts.format));
      try {
        // An operator's acceptance of a changed server, before the pass, so the pass is a first contact with it.
        if (opts.adoptServer.length > 0) {
          const unknown = opts.adoptServer.filter((a) => !session.config.servers.some((s) => s.name === a.server));
          if (unknown.length > 0) throw new UsageError(`--adopt-server: no MdmServer named ${unknown.map((a) => `"${a.server}"`).join(', ')} in the configuration`);
          const adopted = await adoptServers(opts.adoptServer, session.connections.handles, session.store, { now: session.now, ...(io.signal ? { signal: io.signal } : {}) });
          for (const { server, result } of adopted) {
            const line = `${describeAdoption(server, result)}\n`;
            // stdout carries only the plan when it is JSON.
            if ((result.kind === 'adopted' || result.kind === 'unchanged') && opts.format !== 'json') io.stdout(line);
            else io.stderr(`depctl: ${line}`);
          }
        }
        const color = opts.color && opts.format === 'text' && io.env['NO_COLOR'] === undefined && io.confirm !== undefined;
        let stale = false;
        // Shows the plan once, after checking a saved plan is still what apply would do.
        const present = (plan: Plan): boolean => {
          progress.clear();
          const reason = saved ? staleReason(saved, plan) : undefined;
          if (reason) {
            io.stderr(`depctl: the saved plan is stale: ${reason}; run \`depctl plan --out\` again and review it\n`);
            stale = true;
            return false;
          }
          io.stdout(renderPlan(plan, opts.format, color));
          return true;
        };
        let declined = false;
        const ownership = { organizations: session.organizations.handles, store: session.store };
        const fence = fenceWrites(session.store, 'apply', io.signal);
        const report = await runPass(session.config, { handles: session.connections.handles, clients: session.connections.clients, store: session.store, now: session.now, ownership }, {
          commit: session.commit,
          trigger: 'cli',
          allowLarge: opts.allowLarge,
          refresh: opts.refresh,
          retryFailed: opts.retryFailed,
          // The CLI exits after the apply and the next plan syncs anyway; the controller settles, because its
          // status is read between passes.
          settle: false,
          signal: fence.signal,
          beforeWrite: fence.beforeWrite,
          ...(session.only ? { only: session.only } : {}),
          onObserveProgress: (p) => progress.observe(p),
          onApplyProgress: (p) => progress.apply(p),
          beforeApply: async (plan) => {
            if (!present(plan)) return false;
            if (opts.yes || saved) return true;
            if (!io.confirm) throw new UsageError('apply needs --yes when not run in a terminal (or --plan FILE with a reviewed plan)');
            declined = !(await io.confirm('Apply these changes to Apple?'));
            return !declined;
          },
        }).finally(fence.end);
        progress.clear();
        const { plan, apply } = report;
        // Activities of earlier passes that Apple finished (this pass polled them first), on stderr when stdout is JSON.
        const closed = `${renderPolledActivities(report.ownershipPolls)}${ownershipVerdict(report.outcome)}`;
        if (closed !== '') (opts.format === 'json' ? io.stderr : io.stdout)(closed);
        if (!hasAnyChanges(plan)) {
          if (!present(plan)) {
            setExit(ExitCode.failure);
            return;
          }
          setExit(planHasErrors(plan) || !outcomeOk(report.outcome) ? ExitCode.failure : ExitCode.ok);
          return;
        }
        if (stale || !report.applied) {
          if (declined) io.stderr('Nothing applied.\n');
          setExit(ExitCode.failure);
          return;
        }
        if (report.ownership) io.stdout(renderOwnershipApplyResult(report.ownership));
        if (apply) io.stdout(renderApplyResult(apply));
        const depOk = !apply || apply.result === 'success' || apply.result === 'noop';
        const ownershipOk = (report.ownership ?? []).every((o) => o.error === null);
        setExit(depOk && ownershipOk && outcomeOk(report.outcome) && !planHasErrors(plan) ? ExitCode.ok : ExitCode.failure);
      } finally {
        progress.clear();
        await session.close();
      }
    });
};

/**
 * Whether the pass as a whole succeeded: device ownership counts too (issue 15), so an activity Apple finished
 * with devices that did not move makes apply exit 1 (PARTIAL), as failed serials do; activities still running
 * are not a failure.
 */
function outcomeOk(outcome: PassOutcome): boolean {
  return outcome.result === 'success' || outcome.result === 'noop';
}

async function readSavedPlan(path: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read the plan file ${path}`);
  }
  try {
    const plan = JSON.parse(text) as Plan;
    if (plan.version !== 1 || typeof plan.planHash !== 'string' || typeof plan.configHash !== 'string') throw new Error('not a plan');
    return plan;
  } catch {
    throw new UsageError(`${path} is not a plan saved by \`depctl plan --out\``);
  }
}

/** Why a saved plan may not be applied now, or undefined when it is still exactly what apply would do. */
export function staleReason(saved: Plan, fresh: Plan): string | undefined {
  const servers = (p: Plan): string => (p.skippedServers ?? []).join(',');
  if (servers(saved) !== servers(fresh)) return 'it was made for other servers (--server)';
  if (saved.configHash !== fresh.configHash) return 'the configuration changed since it was made';
  // planHash covers the DEP changes and the device moves in Apple Business Manager (plan.ts withOrganizations).
  if (saved.planHash !== fresh.planHash) return 'Apple or the store changed since it was made, so the changes (assignments or device moves) differ';
  return undefined;
}

/** A PARTIAL line when activities Apple finished left devices where they were (issue 15); empty otherwise. */
export function ownershipVerdict(outcome: PassOutcome): string {
  const failed = (outcome.organizations ?? []).filter((o) => o.failedActivities.length > 0);
  if (failed.length === 0) return '';
  const parts = failed.map((o) => `${o.organization}: ${o.failedActivities.reduce((n, a) => n + a.notMoved, 0)} device(s) not moved by ${o.failedActivities.length} activit${o.failedActivities.length === 1 ? 'y' : 'ies'}`);
  return `Device moves PARTIAL (${parts.join('; ')}); they are planned again.\n`;
}

/** One line per activity that Apple finished since the last pass (issue 15), with its per-device outcome. */
export function renderPolledActivities(polls: readonly PollResult[]): string {
  const lines = polls.flatMap((p) => p.closed.map((c) => `Organization ${p.organization}: activity ${c.activityId} ${c.status}: ${c.succeeded} moved, ${c.failed} not moved${c.failed > 0 ? ' (planned again)' : ''}`));
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/**
 * One line per Organization with the activities created (issue 15). Apple carries them out asynchronously:
 * later passes (`depctl run`, the next apply) poll them and audit each device's outcome.
 */
export function renderOwnershipApplyResult(results: readonly OrganizationApplyResult[]): string {
  const serverLines = results.flatMap((r) => (r.servers ?? []).map((c) => c.action === 'create'
    ? `Organization ${r.organization}: created MDM server "${c.abmServerName}" (${c.id}) for ${c.server}. Download its server token once in Apple Business Manager or Apple School Manager (${TOKEN_DOWNLOAD_STEP}) and put it where spec.token points${c.token ? ` (${c.token})` : ''}; until then ${c.server} cannot reach DEP.`
    : `Organization ${r.organization}: updated MDM server "${c.abmServerName}" (${c.id}) for ${c.server}`));
  const lines = [...serverLines, ...results
    .filter((r) => r.error !== null || r.activities.length > 0)
    .map((r) => {
      const made = r.activities.length > 0 ? `${r.activities.length} activit${r.activities.length === 1 ? 'y' : 'ies'} created for ${r.devices} devices (${r.activities.map((a) => `${a.activityId} → ${a.server}`).join(', ')}); Apple carries them out, later passes poll them` : '';
      return `Organization ${r.organization}: ${[made, r.error !== null ? `stopped: ${r.error}` : ''].filter(Boolean).join('; ')}`;
    })];
  return lines.length > 0 ? `\n${lines.join('\n')}\n` : '';
}

/** One line per server with what happened, then the verdict. */
export function renderApplyResult(r: ApplyResult): string {
  const lines = r.servers.map((s) => {
    const parts = [
      s.defined.length ? `${s.defined.length} profile(s) defined` : '',
      `${s.succeeded} assigned`,
      s.removed ? `${s.removed} removed` : '',
      s.throttled ? `${s.throttled} throttled (retried later)` : '',
      s.failed ? `${s.failed} failed (retried later)` : '',
      s.notAccessible ? `${s.notAccessible} not accessible` : '',
    ].filter(Boolean);
    return `${s.server}: ${s.error ? `stopped: ${s.error}` : parts.join(', ')}`;
  });
  const verdict = { success: 'Apply complete.', noop: 'Nothing to apply.', partial: 'Apply PARTIAL: some devices were not changed (see above); they are retried later.', failed: 'Apply FAILED on at least one server (see above).' }[r.result];
  return `\n${lines.join('\n')}\n${verdict} (run ${r.runId})\n`;
}
