/**
 * `depctl plan DIR --untrusted`: the plan of a pull request's checkout, in CI, with the trust rules of the
 * remote plan (issue 18 part 1). The checkout's YAML is validated under the operator's policy, but a server is
 * connected only as the trusted revision (`--trusted-ref`, e.g. the base branch) defines it: a server that the
 * checkout adds, or whose `token`, `privateKey` or `depUrl` it changes, is "planned after merge only" and no
 * call is made with its values (reconcile/remote-plan.ts). Nothing is written to the store: observations go to
 * an in-memory overlay (store/overlay-store.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { DepConfig } from '../config/types.js';
import { planUnmerged } from '../reconcile/remote-plan.js';
import { withOrganizations, type Plan } from '../reconcile/plan.js';
import { OverlayStore } from '../store/overlay-store.js';
import { ReportedFailure, connectServers, loadValidConfig, openState, settingsLoadOptions, type RuntimeSettings } from './runtime.js';
import { serverFactsOnly } from './remote-plan-service.js';
import { UsageError, type CliIo } from './io.js';
import { gitHead } from './plan.js';
import { planUnmergedOwnership } from './organizations.js';

const run = promisify(execFile);

/** Plans the checkout in `dir` against the trusted revision `trustedRef` of the same repository. */
export async function planUntrusted(dir: string, trustedRef: string, settings: RuntimeSettings, io: CliIo): Promise<Plan> {
  const abs = resolve(io.cwd, dir);
  const candidate = await loadValidConfig(dir, io, settings);
  const trusted = await loadTrustedRevision(abs, trustedRef, settings);
  const now = io.now ?? (() => new Date());
  const store = await openState(settings, io);
  try {
    const overlay = new OverlayStore(store);
    const signal = io.signal ? { signal: io.signal } : {};
    // Device ownership (issue 15) first, under the same rule: a changed API account is planned after merge only.
    const organizations = await planUnmergedOwnership(trusted, candidate, settings, io, store, { now, ...signal });
    const plan = await planUnmerged(trusted, candidate, (servers) => connectServers(servers, settings, io, serverFactsOnly(overlay), { now }), overlay, {
      now,
      commit: (await gitHead(abs)) ?? 'unknown',
      ...signal,
    });
    if (organizations) withOrganizations(plan, organizations);
    return plan;
  } finally {
    await store.close();
  }
}

/** The configuration of `ref` at the same path, read from a detached worktree that is removed afterwards. */
async function loadTrustedRevision(abs: string, ref: string, settings: RuntimeSettings): Promise<DepConfig> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$/.test(ref) || ref.includes('..')) throw new UsageError(`--trusted-ref "${ref}" is not a branch, remote branch or commit name`);
  let top: string;
  try {
    top = (await run('git', ['-C', abs, 'rev-parse', '--show-toplevel'])).stdout.trim();
  } catch {
    throw new UsageError('--untrusted needs the config directory to be a git checkout (the trusted revision is read from it)');
  }
  try {
    await run('git', ['-C', top, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw new UsageError(`--trusted-ref ${ref}: no such commit in this checkout (fetch it first, e.g. git fetch origin main)`);
  }
  const scratch = await mkdtemp(join(tmpdir(), 'depctl-trusted-'));
  const tree = join(scratch, 'tree');
  try {
    await run('git', ['-C', top, 'worktree', 'add', '--detach', '--quiet', tree, ref]);
    const loaded = await loadConfig(join(tree, relative(top, abs)), settingsLoadOptions(settings));
    if (!loaded.config) throw new ReportedFailure(`the trusted revision ${ref} does not validate (${loaded.errorCount} error(s)); nothing was planned`);
    return loaded.config;
  } finally {
    await run('git', ['-C', top, 'worktree', 'remove', '--force', tree]).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}
