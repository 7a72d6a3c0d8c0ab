/**
 * Portal actions (what an administrator does in Apple Business Manager) and the read-only inspect
 * view, both over the shared simulator context. Each action records the sync operations Apple would
 * report (dep-protocol.md §3 "POST /devices/sync").
 */
import type { Device } from '../dep/types.js';
import type { PortalActions, SimulatorInspect } from './api.js';
import { type SimContext, nowSec } from './context.js';

/** Highest protocol version: the inspect view shows every field. */
const FULL = 10;

function indexOrThrow(ctx: SimContext, serial: string): number {
  const i = ctx.state.devices.indexOf(serial);
  if (i < 0) throw new Error(`unknown serial ${serial}`);
  return i;
}

/** Builds the portal actions over `ctx`. Unknown serials throw (a test or admin typo, not a DEP answer). */
export function createPortal(ctx: SimContext): PortalActions {
  const onServer = (serial: string): number => {
    const i = indexOrThrow(ctx, serial);
    if (!ctx.state.isOnServer(i)) throw new Error(`device ${serial} is not on this server`);
    return i;
  };
  return {
    addDevices(devices: number | Partial<Device>[]): Device[] {
      const t = nowSec(ctx);
      const indices = typeof devices === 'number' ? ctx.state.addGenerated(Math.max(0, Math.floor(devices)), t) : devices.map((d) => ctx.state.addCustom(d, t));
      return indices.map((i) => ctx.state.render(i, FULL));
    },
    moveAway(serials: string[]): void {
      for (const s of serials) ctx.state.moveAway(onServer(s), nowSec(ctx));
    },
    moveIn(serials: string[]): void {
      for (const s of serials) if (ctx.state.moveIn(s, nowSec(ctx)) < 0) throw new Error(`device ${s} was disowned`);
    },
    setProfile(serial: string, profileUuid: string | null): void {
      const i = onServer(serial);
      if (profileUuid === null) ctx.state.clearProfile(i, nowSec(ctx));
      else ctx.state.assign(i, ctx.state.adoptProfile(profileUuid), nowSec(ctx));
    },
    markPushed(serial: string): void {
      ctx.state.markPushed(onServer(serial), nowSec(ctx));
    },
    forgetProfile(profileUuid: string): void {
      ctx.state.forgetProfile(profileUuid);
    },
  };
}

/** Builds the inspect view over `ctx`. */
export function createInspect(ctx: SimContext): SimulatorInspect {
  return {
    device(serial) {
      const i = ctx.state.devices.indexOf(serial);
      return ctx.state.isOnServer(i) ? ctx.state.render(i, FULL) : undefined;
    },
    deviceCount() {
      const { present, count } = ctx.state.devices;
      let n = 0;
      for (let i = 0; i < count; i++) n += present[i] ?? 0;
      return n;
    },
    profile: (uuid) => {
      const p = ctx.state.profile(uuid);
      return p === undefined ? undefined : structuredClone(p);
    },
    profileCount: () => ctx.state.profileCount(),
    requestCounts: () => Object.fromEntries(ctx.counts),
    resetRequestCounts: () => ctx.counts.clear(),
    writes: () => structuredClone(ctx.writes),
    eventCount: () => ctx.state.log.length,
    sessionCount: () => ctx.sessions.size,
    faults: () => ctx.faults.current(),
    now: () => ctx.now(),
  };
}
