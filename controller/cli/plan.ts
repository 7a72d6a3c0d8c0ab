import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { Register } from './program.js';
import { ExitCode, UsageError, type CliIo } from './io.js';
import { examples } from './help.js';
import { createProgress, progressWanted } from './progress.js';
import { connectServers, loadValidConfig, openState, runtimeSettings, trustOf } from './runtime.js';
import { makePlan } from '../reconcile/planner.js';
import { hasAnyChanges, withOrganizations, type Plan } from '../reconcile/plan.js';
import { planOwnership } from '../ownership/engine.js';
import { connectOrganizations, type OrganizationConnections } from './organizations.js';
import type { DepConfig } from '../config/types.js';
import type { Store } from '../store/index.js';
import type { ServerConnections } from './runtime.js';
import { PLAN_FORMATS, type PlanFormat } from './views/plan-common.js';
import { renderPlanText } from './views/plan-text.js';
import { renderPlanMarkdown } from './views/plan-markdown.js';
import { renderPlanJson } from './views/plan-json.js';

/** Options shared by plan and apply. */
export interface PlanCommandOptions {
  format: PlanFormat;
  refresh: boolean;
  color: boolean;
  /** `--server NAME` (repeatable): only these servers; empty for all. */
  server: string[];
}

/** Commander's collector for the repeatable `--server NAME`. */
export function collectServer(value: string, previous: string[]): string[] {
  return previous.includes(value) ? previous : [...previous, value];
}

/** Checks `--server` names against the configuration; a usage error names the configured servers. */
export function selectServers(config: DepConfig, names: readonly string[]): string[] | undefined {
  if (names.length === 0) return undefined;
  const configured = config.servers.map((s) => s.name);
  const unknown = names.filter((n) => !configured.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(`--server: no MdmServer named ${unknown.map((n) => `"${n}"`).join(', ')} in the configuration (configured: ${configured.join(', ') || 'none'})`);
  }
  return [...names];
}

/** Renders a plan in the chosen format. */
export function renderPlan(plan: Plan, format: PlanFormat, color: boolean): string {
  if (format === 'json') return renderPlanJson(plan);
  if (format === 'markdown') return renderPlanMarkdown(plan);
  return renderPlanText(plan, { color });
}

/** The config, the store and a connection to every server: what a plan or a pass works from. */
export interface CommandSession {
  config: DepConfig;
  store: Store;
  connections: ServerConnections;
  /** Each Organization's Business API client (issue 15); none with `--server`, which plans DEP servers only. */
  organizations: OrganizationConnections;
  /** The git commit of the config directory, when it is a repository. */
  commit: string | null;
  /** The servers `--server` selected (only these are connected), or undefined for all. */
  only: string[] | undefined;
  now: () => Date;
  close(): Promise<void>;
}

/**
 * Loads the config, opens the store and connects to every server (or those `servers` names; the others'
 * tokens are not even read). `beforeConnect` runs once the store is open (apply takes its lock there).
 */
export async function openSession(dir: string, cmd: Command, io: CliIo, opts: { servers?: readonly string[]; beforeConnect?: (store: Store) => Promise<void> } = {}): Promise<CommandSession> {
  const settings = runtimeSettings(cmd, io);
  // git runs in a process of its own while the config loads and the tokens decrypt (it never rejects).
  const commitAsked = gitHead(resolve(io.cwd, dir));
  const config = await loadValidConfig(dir, io, settings);
  const only = selectServers(config, opts.servers ?? []);
  const now = io.now ?? (() => new Date());
  const store = await openState(settings, io);
  try {
    await opts.beforeConnect?.(store);
    const selected = only ? { ...config, servers: config.servers.filter((s) => only.includes(s.name)) } : config;
    const connections = await connectServers(selected, settings, io, store, { now });
    const organizations = await connectOrganizations(only ? [] : (config.organizations ?? []), settings, io, { nowMs: () => now().getTime() });
    const commit = await commitAsked;
    const close = async (): Promise<void> => {
      await connections.close();
      await organizations.close();
      await store.close();
    };
    return { config, store, connections, organizations, commit, only, now, close };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The commit checked out in the config directory, or null outside a git repository. */
export async function gitHead(dir: string): Promise<string | null> {
  try {
    const { simpleGit } = await import('simple-git');
    const git = simpleGit({ baseDir: dir });
    if (!(await git.checkIsRepo())) return null;
    return (await git.revparse(['HEAD'])).trim() || null;
  } catch {
    return null;
  }
}

/** True when the plan holds something that must stop a pipeline: a server error or a device conflict. */
export function planHasErrors(plan: Plan): boolean {
  const orgErrors = (plan.organizations ?? []).some((o) => o.error !== null || o.problems.some((p) => p.severity === 'error'));
  return plan.summary.errors > 0 || plan.summary.conflicts > 0 || orgErrors;
}

/**
 * Registers `depctl plan [DIR]`: observes Apple and the store and prints what apply would change. Never
 * writes to Apple. Exit 0 (with --detailed-exitcode: 0 no changes, 2 changes), 1 on errors.
 */
export const registerPlan: Register = (program, io, setExit) => {
  program
    .command('plan')
    .description('show what apply would change (reads Apple and the store; never writes to Apple)')
    .argument('[dir]', 'config directory', '.')
    .addOption(new Option('--format <format>', 'output format').choices(PLAN_FORMATS).default('text'))
    .option('--out <file>', 'also save the plan as JSON, for `depctl apply --plan FILE`')
    .option('--detailed-exitcode', 'exit 0 when there are no changes, 2 when there are changes, 1 on errors', false)
    .option('--refresh', 'do a full fetch of every server instead of a sync', false)
    .option('--retry-failed', 'plan FAILED serials now instead of at their retry time (as `apply --retry-failed` would)', false)
    .option('--server <name>', 'plan only this MdmServer (repeatable); the plan lists the servers left out', collectServer, [])
    .option('--no-color', 'no ANSI colours in text output')
    .option('--remote <url>', 'ask a running controller for the plan of --ref (API token from DEPCTL_API_TOKEN); needs no DEP token or store here')
    .option('--ref <ref>', 'with --remote: the branch, refs/pull/N/head or commit of the configured repository to plan')
    .option('--sha <sha>', 'with --remote: the commit of --ref to plan (must be among its last 50 commits)')
    .option('--untrusted', "plan a pull request's checkout: servers connect only as --trusted-ref defines them (new or changed credentials and depUrl: planned after merge only); nothing is written to the store", false)
    .option('--trusted-ref <ref>', 'with --untrusted: the trusted revision in this checkout (e.g. origin/main)', 'origin/main')
    .addHelpText('after', examples([
      ['depctl plan config/', 'what apply would change, for every server'],
      ['depctl plan --out plan.json --detailed-exitcode config/', 'save the plan for `depctl apply --plan`; exit 2 when there are changes'],
      ['DEPCTL_API_TOKEN=… depctl plan --remote https://depctl.example.com --ref refs/pull/42/head --format markdown', 'a pull request planned by the controller (CI holds no DEP token)'],
    ]))
    .action(async (dir: string, opts: PlanCommandOptions & { out?: string; detailedExitcode: boolean; retryFailed: boolean; remote?: string; ref?: string; sha?: string; untrusted: boolean; trustedRef: string }, cmd: Command) => {
      if (opts.remote !== undefined) {
        if (opts.ref === undefined) throw new UsageError('--remote needs --ref (a branch, refs/pull/N/head, or a commit id)');
        const { runRemotePlan } = await import('./plan-remote.js');
        const color = opts.color && opts.format === 'text' && io.env['NO_COLOR'] === undefined && io.confirm !== undefined;
        setExit(await runRemotePlan({ remote: opts.remote, ref: opts.ref, ...(opts.sha !== undefined ? { sha: opts.sha } : {}), format: opts.format, color, detailedExitcode: opts.detailedExitcode, ...(opts.out ? { out: opts.out } : {}) }, io));
        return;
      }
      if (opts.ref !== undefined || opts.sha !== undefined) throw new UsageError('--ref and --sha go with --remote URL');
      if (opts.untrusted) {
        if (opts.out !== undefined) throw new UsageError('--out saves a plan for apply; a plan of an untrusted checkout is not one to apply');
        const { planUntrusted } = await import('./plan-untrusted.js');
        const plan = await planUntrusted(dir, opts.trustedRef, runtimeSettings(cmd, io), io);
        io.stdout(renderPlan(plan, opts.format, opts.color && opts.format === 'text' && io.env['NO_COLOR'] === undefined && io.confirm !== undefined));
        const blocking = plan.servers.some((s) => s.error !== null && s.problem?.reason !== 'untrusted-credential-change') || plan.summary.conflicts > 0;
        setExit(blocking ? ExitCode.failure : opts.detailedExitcode && hasAnyChanges(plan) ? 2 : ExitCode.ok);
        return;
      }
      const session = await openSession(dir, cmd, io, { servers: opts.server });
      const progress = createProgress(io, progressWanted(io, opts.format));
      try {
        const { now, commit } = session;
        // Device ownership first (issue 15), as a pass does it; a plan only reads (open activities are not polled).
        const ownership = session.organizations.handles.length > 0
          ? await planOwnership(session.config, session.organizations.handles, session.store, { now, poll: false, ...(io.signal ? { signal: io.signal } : {}) })
          : null;
        const plan = await makePlan(session.config, session.connections.handles, session.store, {
          now,
          refresh: opts.refresh,
          retryFailed: opts.retryFailed,
          commit,
          ...(io.signal ? { signal: io.signal } : {}),
          ...(session.only ? { only: session.only } : {}),
          onProgress: (p) => progress.observe(p),
        });
        if (ownership) withOrganizations(plan, ownership.plans);
        progress.clear();
        io.stdout(renderPlan(plan, opts.format, opts.color && opts.format === 'text' && io.env['NO_COLOR'] === undefined && io.confirm !== undefined));
        if (opts.format !== 'json' && session.config.credentials && session.config.credentials.length > 0) {
          // Declared APNs and Apps and Books credentials near or past expiry (issue 16); JSON plans keep their schema.
          const { credentialPlanLines } = await import('../credentials/plan-lines.js');
          io.stdout(await credentialPlanLines(session.config.credentials, trustOf(runtimeSettings(cmd, io)), io.env, session.store, now(), opts.format === 'markdown' ? 'markdown' : 'text'));
        }
        if (opts.out) await writeFile(resolve(io.cwd, opts.out), renderPlanJson(plan));
        if (planHasErrors(plan)) setExit(ExitCode.failure);
        else setExit(opts.detailedExitcode && hasAnyChanges(plan) ? 2 : ExitCode.ok);
      } finally {
        progress.clear();
        await session.close();
      }
    });
};
