/**
 * A simulator group: several MDM servers of one organisation behind one listener, so that
 * `DEPCTL_DEP_URL` can point every `MdmServer` of a config at one `depctl sim`. Each server has its
 * own token, fleet, profiles, cursors, sessions and faults (a full per-server context from
 * server-context.ts); the listener routes by token (group-routing.ts). Serials never collide across
 * servers: each server's generated fleet lives in its own window of the serial permutation, and
 * explicit serials are checked against every server.
 */
import { createHash } from 'node:crypto';
import type { Device } from '../dep/types.js';
import type { PortalActions, RunningSimulatorGroup, SimulatedServer, SimulatorGroupOptions, SimulatorServerSpec } from './api.js';
import type { AdminTarget } from './admin.js';
import type { SimContext } from './context.js';
import type { DeviceOverrides } from './device-store.js';
import { accountFromSeed, accountUrls, tokenFromSeed } from './credentials.js';
import { generatorBaseForWindow, MAX_GENERATED_DEVICES } from './fleet.js';
import { handleGroupAdmin } from './group-admin.js';
import { SessionDirectory } from './group-routing.js';
import { isAdminPath, listen } from './listen.js';
import { hash32, normaliseSeed } from './rng.js';
import { handleApple, SERVED_PATHS } from './router.js';
import { anchorSecOf, createClock, createServerContext, createSimulatedServer, DEFAULT_SESSION_TTL_MS, DEFAULT_TIMESTAMP_TOLERANCE_MS, ORG_DOMAIN } from './server-context.js';

/** Names travel in admin paths and `depctl sim --out DIR/NAME/`: keep them path-safe. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One server of the group with its internals (admin.ts and the router need the context). */
export interface GroupMember {
  readonly ctx: SimContext;
  readonly server: SimulatedServer;
  /** The admin view of this server: the group's URL and clock, this server's state. */
  readonly admin: AdminTarget;
}

/** The fleet seed of a group member: its seed mixed with its name, so same-seed servers differ. */
function fleetSeedOf(spec: SimulatorServerSpec): number {
  const nameHash = Number.parseInt(createHash('sha256').update(spec.name).digest('hex').slice(0, 8), 16);
  return hash32(normaliseSeed(spec.seed ?? 1), nameHash, 0x6e616d65);
}

function checkSpecs(specs: readonly SimulatorServerSpec[]): void {
  if (specs.length === 0) throw new RangeError('a simulator group needs at least one server');
  const seen = new Set<string>();
  for (const s of specs) {
    if (!NAME.test(s.name)) throw new RangeError(`server name "${s.name}" must be letters, digits, ".", "_" or "-"`);
    if (seen.has(s.name)) throw new RangeError(`server name "${s.name}" is given twice`);
    seen.add(s.name);
  }
}

/** The fixed attributes of a device (its product and radios), to carry it to another server. */
function productOf(d: Device): DeviceOverrides {
  const { serial_number, model, description, color, asset_tag, device_family, os, device_assigned_by, imei, meid, eid, wifi_mac_address, bluetooth_mac_address, ethernet_mac_address } = d;
  // Radio keys are set even when absent: the device-store then never takes the slot's generated ones.
  return { serial_number, model, description, color, asset_tag, device_family, os, device_assigned_by, imei, meid, eid, wifi_mac_address, bluetooth_mac_address, ethernet_mac_address };
}

/** The member other than the one of `self` that has `serial` on its server, if any. */
function holderOf(members: readonly GroupMember[], serial: string, self: SimContext): GroupMember | undefined {
  return members.find((m) => m.ctx !== self && m.ctx.state.isOnServer(m.ctx.state.devices.indexOf(serial)));
}

/**
 * Wraps a member's portal so that the group stays one organisation: a device given by hand to one
 * server must not be on another, and moving a device in moves it away from the server it was on
 * (in Apple Business Manager a device is assigned to exactly one MDM server).
 */
function groupPortal(members: readonly GroupMember[], self: SimContext, own: PortalActions): PortalActions {
  return {
    ...own,
    addDevices(devices: number | Partial<Device>[]): Device[] {
      if (typeof devices !== 'number') {
        for (const d of devices) {
          const other = d.serial_number !== undefined ? holderOf(members, d.serial_number, self) : undefined;
          if (other) throw new Error(`serial ${d.serial_number} is already on server ${other.server.name}`);
        }
      }
      return own.addDevices(devices);
    },
    moveIn(serials: string[]): void {
      for (const s of serials) {
        const holder = holderOf(members, s, self);
        const record = holder?.server.inspect.device(s);
        const known = self.state.devices.indexOf(s) >= 0;
        // Moving in first: a device disowned here throws before the other server loses it.
        own.moveIn([s]);
        holder?.server.portal.moveAway([s]);
        // A device new to this server keeps the product it had on the other one.
        if (record && !known) self.state.devices.setOverrides(self.state.devices.indexOf(s), productOf(record));
      }
    },
  };
}

/**
 * Starts several simulated MDM servers behind one listener and resolves once it listens. Tokens,
 * server UUIDs and fleets derive from each server's name and seed; the organisation is shared.
 */
export async function startSimulatorGroup(opts: SimulatorGroupOptions): Promise<RunningSimulatorGroup> {
  checkSpecs(opts.servers);
  const clock = createClock(opts.now ?? Date.now);
  const anchorSec = anchorSecOf(clock.now());
  // Equal windows of the serial permutation: 45 million serials shared by the servers.
  const window = Math.floor(MAX_GENERATED_DEVICES / opts.servers.length);
  const urls = accountUrls(SERVED_PATHS);
  const members: GroupMember[] = [];
  const directory = new SessionDirectory(members);
  let url = '';
  for (const [k, spec] of opts.servers.entries()) {
    const seed = spec.seed ?? 1;
    const fleetSeed = fleetSeedOf(spec);
    if ((spec.devices ?? 0) > window) throw new RangeError(`server ${spec.name}: at most ${window} devices in a group of ${opts.servers.length}`);
    const ctx: SimContext = createServerContext({
      fleetSeed,
      token: tokenFromSeed(seed, anchorSec, spec.name),
      account: accountFromSeed(seed, spec.serverName ?? spec.name, opts.orgName ?? 'Example Inc', ORG_DOMAIN, urls, spec.name),
      devices: spec.devices ?? 0,
      anchorSec,
      now: clock.now,
      sessionTtlMs: opts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
      timestampToleranceMs: opts.oauthTimestampToleranceMs ?? DEFAULT_TIMESTAMP_TOLERANCE_MS,
      generatorBase: generatorBaseForWindow(fleetSeed, k * window),
      capacity: window,
      onSessionIssued: (token) => directory.issued(token, member),
    });
    const plain = createSimulatedServer(spec.name, ctx);
    // Spelled out rather than spread: `token` is read through (swapTokens replaces it).
    const server: SimulatedServer = {
      name: plain.name,
      get token() { return ctx.token; },
      portal: groupPortal(members, ctx, plain.portal),
      inspect: plain.inspect,
      injectFaults: plain.injectFaults,
      clearFaults: plain.clearFaults,
    };
    // The URL is known once the listener is up; admin calls only come after that.
    const admin: AdminTarget = {
      name: server.name,
      get token() { return ctx.token; },
      portal: server.portal,
      inspect: server.inspect,
      injectFaults: server.injectFaults,
      clearFaults: server.clearFaults,
      get url() { return url; },
      advanceClock: clock.advance,
    };
    const member: GroupMember = { ctx, server, admin };
    members.push(member);
  }
  for (const [k, spec] of opts.servers.entries()) {
    const member = members[k] as GroupMember;
    if (spec.extraDevices?.length) member.server.portal.addDevices(spec.extraDevices);
  }

  const swap = (a: string, b: string): void => swapTokens(members, a, b);
  const listener = await listen(opts.host ?? '127.0.0.1', opts.port ?? 0, (req, res, u) =>
    isAdminPath(u) ? handleGroupAdmin(members, req, res, u, swap) : handleApple(directory.pick(req, u).ctx, req, res, u),
  );
  url = listener.url;
  return {
    url,
    servers: new Map(members.map((m) => [m.server.name, m.server])),
    advanceClock: clock.advance,
    swapTokens: swap,
    close: listener.close,
  };
}

/**
 * Swaps the tokens of two servers: each token now opens the other MDM server (its GET /account, devices and
 * profiles), as when an administrator downloads a token for the wrong server or mixes up two token files.
 * Sessions of both are revoked, so a client holding one authenticates again and lands where its token now
 * leads (the directory routes /session by token).
 */
function swapTokens(members: readonly GroupMember[], a: string, b: string): void {
  const ma = members.find((m) => m.server.name === a);
  const mb = members.find((m) => m.server.name === b);
  if (!ma || !mb) throw new RangeError(`no server named ${!ma ? a : b}`);
  if (ma === mb) throw new RangeError('swapTokens needs two different servers');
  [ma.ctx.token, mb.ctx.token] = [mb.ctx.token, ma.ctx.token];
  ma.ctx.sessions.revokeAll();
  mb.ctx.sessions.revokeAll();
}
