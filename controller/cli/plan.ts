import { writeFile } from 'node:fs/promises';
import { simpleGit } from 'simple-git';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { Register } from './program.js';
import { ExitCode, type CliIo } from './io.js';
import { connectServers, loadValidConfig, openState, runtimeSettings } from './runtime.js';
import { makePlan } from '../reconcile/planner.js';
import { hasChanges, type Plan } from '../reconcile/plan.js';
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
  /** The git commit of the config directory, when it is a repository. */
  commit: string | null;
  now: () => Date;
  close(): Promise<void>;
}

/** Loads the config, opens the store and connects to every server. */
export async function openSession(dir: string, cmd: Command, io: CliIo): Promise<CommandSession> {
  const settings = runtimeSettings(cmd, io);
  const config = await loadValidConfig(dir, io);
  const now = io.now ?? (() => new Date());
  const store = await openState(settings, io);
  try {
    const connections = await connectServers(config, settings, io, store, { now });
    const commit = await gitHead(resolve(io.cwd, dir));
    return { config, store, connections, commit, now, close: async () => { await connections.close(); await store.close(); } };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The commit checked out in the config directory, or null outside a git repository. */
export async function gitHead(dir: string): Promise<string | null> {
  try {
    const git = simpleGit({ baseDir: dir });
    if (!(await git.checkIsRepo())) return null;
    return (await git.revparse(['HEAD'])).trim() || null;
  } catch {
    return null;
  }
}

/** True when the plan holds something that must stop a pipeline: a server error or a device conflict. */
export function planHasErrors(plan: Plan): boolean {
  return plan.summary.errors > 0 || plan.summary.conflicts > 0;
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
    .option('--no-color', 'no ANSI colours in text output')
    .action(async (dir: string, opts: PlanCommandOptions & { out?: string; detailedExitcode: boolean; retryFailed: boolean }, cmd: Command) => {
      const session = await openSession(dir, cmd, io);
      try {
        const { now, commit } = session;
        const plan = await makePlan(session.config, session.connections.handles, session.store, { now, refresh: opts.refresh, retryFailed: opts.retryFailed, commit, ...(io.signal ? { signal: io.signal } : {}) });
        io.stdout(renderPlan(plan, opts.format, opts.color && opts.format === 'text' && io.env['NO_COLOR'] === undefined && io.confirm !== undefined));
        if (opts.out) await writeFile(resolve(io.cwd, opts.out), renderPlanJson(plan));
        if (planHasErrors(plan)) setExit(ExitCode.failure);
        else setExit(opts.detailedExitcode && hasChanges(plan) ? 2 : ExitCode.ok);
      } finally {
        await session.close();
      }
    });
};
