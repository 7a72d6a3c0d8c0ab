/**
 * Plans of unmerged refs (issue 13 part 2, issue 18): the configuration of a pull request is planned with
 * the credentials, URLs and secret references of the trusted revision only. A server that is new in the
 * pull request, or whose `token`, `privateKey` or `depUrl` differ from the trusted revision, is not
 * connected at all: its ServerPlan carries the guardrail problem `untrusted-credential-change` ("planned
 * after merge only"), and no call is made with those values. The others are planned with connections
 * built from the trusted revision's servers, against a store view that absorbs every write.
 */
import type { DepConfig, MdmServer } from '../config/types.js';
import type { ServerProblem } from './outcome.js';
import type { Plan } from './plan.js';
import { makePlan, type PlannerStore, type ServerHandle } from './planner.js';
import type { CallOptions } from './ports.js';

/** Why a server of an unmerged revision is not planned with credentials: new, or what changed. */
export function credentialChange(trusted: MdmServer | undefined, candidate: MdmServer): string | null {
  if (!trusted) return 'new server: credential or endpoint change: planned after merge only (validated offline)';
  const changed: string[] = [];
  if (JSON.stringify(trusted.token) !== JSON.stringify(candidate.token)) changed.push('token');
  if (JSON.stringify(trusted.privateKey) !== JSON.stringify(candidate.privateKey)) changed.push('privateKey');
  if ((trusted.depUrl ?? null) !== (candidate.depUrl ?? null)) changed.push('depUrl');
  if (changed.length === 0) return null;
  return `credential or endpoint change: planned after merge only (${changed.join(', ')} differ from the trusted revision)`;
}

/** The candidate's servers that may be planned, as the trusted revision defines them (its credentials, its URLs). */
export function trustedServersFor(trusted: DepConfig, candidate: DepConfig): MdmServer[] {
  const out: MdmServer[] = [];
  for (const s of candidate.servers) {
    const t = trusted.servers.find((x) => x.name === s.name);
    if (t && credentialChange(t, s) === null) out.push(t);
  }
  return out;
}

/** Connections of the trusted servers (built by the composition root from the trusted revision only). */
export interface TrustedConnections {
  handles: readonly ServerHandle[];
  close(): Promise<void>;
}

/** Options of planUnmerged. */
export interface UnmergedPlanOptions extends CallOptions {
  now: () => Date;
  /** The commit planned (the pull request's). */
  commit: string;
}

/**
 * Plans `candidate` (an unmerged revision) against `store` (a view that writes nothing): `connect` gets a
 * configuration holding only the trusted revision's definitions of the servers that may be planned, and the
 * others get the `untrusted-credential-change` guardrail without any call.
 */
export async function planUnmerged(
  trusted: DepConfig,
  candidate: DepConfig,
  connect: (servers: DepConfig) => Promise<TrustedConnections>,
  store: PlannerStore,
  opts: UnmergedPlanOptions,
): Promise<Plan> {
  const allowed = trustedServersFor(trusted, candidate);
  const conns = await connect({ ...trusted, servers: allowed });
  try {
    const handles: ServerHandle[] = candidate.servers.map((s) => {
      const h = conns.handles.find((x) => x.name === s.name);
      if (h && allowed.some((a) => a.name === s.name)) return h;
      const message = credentialChange(trusted.servers.find((x) => x.name === s.name), s) ?? 'planned after merge only';
      const problem: ServerProblem = { server: s.name, kind: 'guardrail', reason: 'untrusted-credential-change', message, retryAt: null };
      return { name: s.name, client: null, problem, tokenExpiresAt: null };
    });
    return await makePlan(candidate, handles, store, { now: opts.now, commit: opts.commit, refresh: false, retryFailed: false, ...(opts.signal ? { signal: opts.signal } : {}) });
  } finally {
    await conns.close();
  }
}
