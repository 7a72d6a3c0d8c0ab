/**
 * The controller's remote planner (issue 13 part 2), wired from what `depctl run` already has: the
 * repository and its git credentials, the trusted revision in force, the store and the runtime settings.
 * A request fetches the ref into its own scratch directory, validates it offline, and plans it with
 * connections built from the trusted revision's servers only (reconcile/remote-plan.ts) against an overlay
 * of the store that keeps every write in memory (store/overlay-store.ts). Nothing is written anywhere.
 */
import type { DepConfig } from '../config/types.js';
import { loadConfig } from '../config/load.js';
import { planUnmerged } from '../reconcile/remote-plan.js';
import { withOrganizations } from '../reconcile/plan.js';
import type { GitAuth } from '../source/git-env.js';
import { clearScratch, fetchRef } from '../source/ref-fetch.js';
import { isGitSourceError } from '../source/errors.js';
import { OverlayStore } from '../store/overlay-store.js';
import type { Store } from '../store/index.js';
import { RemotePlanError, type RemotePlanner } from '../server/plan-api.js';
import type { CliIo } from './io.js';
import { connectServers, settingsLoadOptions, type RuntimeSettings } from './runtime.js';
import { planUnmergedOwnership } from './organizations.js';

/** What the remote planner needs from `depctl run`. */
export interface RemotePlanServiceOptions {
  repo: { url: string; path: string; auth: GitAuth; env: Readonly<Record<string, string | undefined>> };
  /** Parent of the per-request scratch checkouts (never the controller's own checkout). */
  scratchDir: string;
  /** The revision in force and its config (the loop's `trusted()`). */
  trusted: () => { revision: string; config: DepConfig } | undefined;
  store: Store;
  settings: RuntimeSettings;
  io: CliIo;
  now: () => Date;
  /** Limit of the git fetch (default 60 s). */
  fetchTimeoutMs?: number;
}

/** Creates the planner behind `GET /api/plan`. */
export function createRemotePlanner(opts: RemotePlanServiceOptions): RemotePlanner {
  return async (ref, sha, signal) => {
    const trusted = opts.trusted();
    if (!trusted) throw new RemotePlanError(503, 'this controller has no trusted revision yet (starting, its repository is invalid, or it is a follower replica); ask the leader or try again');
    // Plans run one at a time (plan-api.ts), so anything left here is from a process that died mid-plan.
    await clearScratch(opts.scratchDir);
    let fetched;
    try {
      fetched = await fetchRef({ url: opts.repo.url, path: opts.repo.path, auth: opts.repo.auth, env: opts.repo.env, scratchDir: opts.scratchDir, ...(opts.fetchTimeoutMs ? { timeoutMs: opts.fetchTimeoutMs } : {}) }, ref, sha, signal);
    } catch (err) {
      if (isGitSourceError(err, 'invalid-spec')) throw new RemotePlanError(400, err.message);
      if (isGitSourceError(err, 'ref-not-found') || isGitSourceError(err, 'path-not-found')) throw new RemotePlanError(404, err.message);
      if (isGitSourceError(err)) throw new RemotePlanError(502, err.message);
      throw err;
    }
    try {
      // Offline validation only: the secrets directory is passed so that references are checked as on the
      // trusted branch, but no secret is read for this revision (its servers connect with trusted values).
      // The operator's input limits bound what a pull request can make the controller read and parse.
      // The pull request's YAML is held to the operator's policy (input limits, secret references, DEP hosts).
      const loaded = await loadConfig(fetched.dir, settingsLoadOptions(opts.settings));
      if (!loaded.config) {
        const problems = loaded.problems.filter((p) => p.severity === 'error').slice(0, 50).map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
        throw new RemotePlanError(422, `${loaded.errorCount} validation error(s) in ${ref} at ${fetched.sha.slice(0, 12)}; nothing was planned`, problems);
      }
      const store = new OverlayStore(opts.store);
      // Device ownership (issue 15): an Organization whose API account or hosts the ref changes is planned after merge only.
      const organizations = await planUnmergedOwnership(trusted.config, loaded.config, opts.settings, opts.io, opts.store, { now: opts.now, signal });
      const plan = await planUnmerged(
        trusted.config,
        loaded.config,
        (servers) => connectServers(servers, opts.settings, opts.io, serverFactsOnly(store), { now: opts.now }),
        store,
        { now: opts.now, commit: fetched.sha, signal },
      );
      if (organizations) withOrganizations(plan, organizations);
      return { ref, sha: fetched.sha, trustedRevision: trusted.revision, plan };
    } finally {
      await fetched.cleanup();
    }
  };
}

/**
 * The store as connectServers sees it during a remote plan: the server facts it reads and records go to the
 * overlay; any other method fails loudly rather than reach the real store.
 */
export function serverFactsOnly(overlay: OverlayStore): Store {
  return new Proxy({} as Store, {
    get: (_target, prop) => {
      if (prop === 'getServer') return overlay.getServer.bind(overlay);
      if (prop === 'upsertServer') return overlay.upsertServer.bind(overlay);
      if (prop === 'then') return undefined;
      return () => {
        throw new Error(`a remote plan does not give connect the store method ${String(prop)}`);
      };
    },
  });
}
