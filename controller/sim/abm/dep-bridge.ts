/**
 * Connects the Business API simulator to a DEP simulator group: when a finished activity moves a device
 * between MDM servers, the DEP server of the old one loses it (its sync reports `deleted`) and the DEP
 * server of the new one gains it (sync `added` for a device new to it; `modified` for one that was there
 * before, as the DEP simulator's move-in does, after Apple). Only the group's public portal actions are
 * used. ABM servers without a DEP counterpart in the map are outside DEP (nothing to tell).
 */
import type { Device } from '../../dep/types.js';
import type { RunningSimulatorGroup } from '../api.js';
import type { AbmMoveHook, RunningAbmSimulator } from './api.js';

/** The bridge: its hook (already installed) and the errors DEP raised, if any. */
export interface AbmDepBridge {
  readonly onMove: AbmMoveHook;
  /** Disconnects the hook. */
  disconnect(): void;
}

const OS_OF: Record<string, string> = { iPhone: 'iOS', iPad: 'iOS', Mac: 'OSX', AppleTV: 'tvOS', Watch: 'watchOS', Vision: 'visionOS' };

function depRecord(abm: RunningAbmSimulator, serial: string): Partial<Device> {
  const a = abm.inspect.device(serial)?.attributes ?? {};
  const text = (k: string): string | undefined => (typeof a[k] === 'string' ? (a[k] as string) : undefined);
  const family = text('productFamily');
  const model = text('deviceModel');
  const rec: Partial<Device> = { serial_number: serial };
  if (model !== undefined) {
    rec.model = model;
    rec.description = model;
  }
  if (family !== undefined) {
    rec.device_family = family;
    if (OS_OF[family] !== undefined) rec.os = OS_OF[family];
  }
  const color = text('color');
  if (color !== undefined) rec.color = color;
  return rec;
}

/**
 * Installs a move hook on `abm` that mirrors moves into `dep`. `servers` maps an ABM MDM server id to
 * the name of a server in the DEP group.
 */
export function connectAbmToDep(abm: RunningAbmSimulator, dep: RunningSimulatorGroup, servers: Readonly<Record<string, string>>): AbmDepBridge {
  for (const name of Object.values(servers)) if (!dep.servers.has(name)) throw new RangeError(`the DEP group has no server named ${name}`);
  const onMove: AbmMoveHook = (serial, from, to) => {
    const fromDep = from === null ? undefined : dep.servers.get(servers[from] ?? '');
    const toDep = to === null ? undefined : dep.servers.get(servers[to] ?? '');
    if (fromDep?.inspect.device(serial)) fromDep.portal.moveAway([serial]);
    if (!toDep || toDep.inspect.device(serial)) return;
    try {
      toDep.portal.addDevices([depRecord(abm, serial)]);
    } catch {
      // Known to that server from before (or held by an unmapped one): move it in.
      toDep.portal.moveIn([serial]);
    }
  };
  abm.setMoveHook(onMove);
  return { onMove, disconnect: () => abm.setMoveHook(undefined) };
}
