/**
 * The Apple Business API simulator: the token endpoint, Apple's `/v1/` paths, presigned result
 * downloads and `/_sim/` admin endpoints behind one node:http listener on 127.0.0.1 (port 0 by default),
 * with an injectable clock. `startAbmSimulator` resolves once it listens. See dep-protocol.md section 7.
 */
import { randomBytes } from 'node:crypto';
import { ABM_MAX_ACTIVITY_DEVICES } from '../../abm/types.js';
import { isAdminPath, listen } from '../listen.js';
import { createClock } from '../server-context.js';
import type { AbmFaultSpec, AbmSimulatorOptions, RunningAbmSimulator } from './api.js';
import { publicKeyOf } from './auth.js';
import { handleAbmAdmin } from './admin.js';
import { generateApiAccount } from './credentials.js';
import { SimOrg } from './org.js';
import { handleAbm, type AbmRouteContext } from './routes.js';

export type { AbmFaultSpec, AbmMoveHook, AbmSimDevice, AbmSimOrgDevice, AbmSimServerSpec, AbmSimulatorInspect, AbmSimulatorOptions, RunningAbmSimulator, SimApiAccount } from './api.js';
export { generateApiAccount, writeApiAccount, type WrittenApiAccount } from './credentials.js';
export { connectAbmToDep, type AbmDepBridge } from './dep-bridge.js';

/** Starts a simulator and resolves once it listens. */
export async function startAbmSimulator(opts: AbmSimulatorOptions = {}): Promise<RunningAbmSimulator> {
  const clock = createClock(opts.now ?? Date.now);
  const stepMs = opts.activityStepMs ?? 2_000;
  if (!(stepMs > 0)) throw new RangeError('activityStepMs must be positive');
  const org = new SimOrg(opts.seed ?? 1, clock.now, stepMs);
  org.onMove = opts.onMove;
  const account = opts.account ?? generateApiAccount(opts.scope ?? 'business');
  if (opts.scope !== undefined && account.scope !== opts.scope) throw new RangeError(`the account is for ${account.scope}, the simulator for ${opts.scope}`);
  for (const [k, spec] of (opts.servers ?? []).entries()) org.addServer(spec, k + 1);
  org.addGenerated(opts.devices ?? 0);
  for (const [k, spec] of (opts.servers ?? []).entries()) {
    if (!spec.devices) continue;
    const id = [...org.servers.keys()][k] as string;
    const free = [...org.devices.values()].filter((d) => d.assignedServerId === null).slice(0, spec.devices);
    if (free.length < spec.devices) throw new RangeError(`not enough unassigned devices for server ${spec.serverName}`);
    for (const d of free) d.assignedServerId = id;
  }
  if (opts.orgDevices?.length) org.addExplicit(opts.orgDevices);
  const counts = new Map<string, number>();
  let url = '';
  const ctx: AbmRouteContext = {
    org,
    account,
    publicKey: publicKeyOf(account),
    url: () => url,
    tokenTtlSec: opts.accessTokenTtlSec ?? 3600,
    maxActivityDevices: opts.maxActivityDevices ?? ABM_MAX_ACTIVITY_DEVICES,
    counts,
    cursorSecret: randomBytes(16).toString('hex'),
  };
  const faults = (): AbmFaultSpec => structuredClone(org.faults);
  const listener = await listen(opts.host ?? '127.0.0.1', opts.port ?? 0, (req, res, u) => (isAdminPath(u) ? handleAbmAdmin(sim, faults, req, res, u) : handleAbm(ctx, req, res, u)));
  url = listener.url;
  const sim: RunningAbmSimulator = {
    url,
    apiUrl: `${url}/v1`,
    tokenUrl: `${url}/auth/oauth2/token`,
    account,
    inspect: {
      device: (serial) => {
        org.settle();
        const d = org.devices.get(serial);
        return d ? { serialNumber: d.serialNumber, assignedServerId: d.assignedServerId, attributes: org.deviceAttributes(d) } : undefined;
      },
      deviceCount: () => org.devices.size,
      serverIds: () => [...org.servers.keys()],
      serialsOf: (id) => {
        org.settle();
        return org.serialsOf(id);
      },
      requestCounts: () => Object.fromEntries(counts),
      tokensIssued: () => org.tokensIssued,
      now: clock.now,
    },
    addDevices: (count, serverId) => org.addGenerated(count, serverId ?? null),
    injectFaults(f) {
      if (f.revokeTokens) org.tokens.clear();
      const { revokeTokens: _revoked, ...rest } = f;
      org.faults = { ...org.faults, ...structuredClone(rest) };
    },
    clearFaults() {
      org.faults = {};
    },
    advanceClock(ms) {
      clock.advance(ms);
      org.settle();
    },
    setMoveHook(hook) {
      org.onMove = hook;
    },
    close: listener.close,
  };
  return sim;
}
