/**
 * Reads what Apple Business/School Manager holds for one organization: its MDM servers, each server's device
 * linkages (serial → server id) and the organization's devices. Only reads; ⌈N/1000⌉ pages per list.
 */
import type { OwnershipAbmClient } from './ports.js';

/** An MDM server as the plan needs it. */
export interface ObservedServer {
  id: string;
  serverName: string;
  /** `ACTIVE`, `INACTIVE`, `DELETED` (API 2.1+), when Apple says. */
  status?: string;
  /** `MDM`, `APPLE_CONFIGURATOR` or `APPLE_MDM`, when Apple says. */
  serverType?: string;
  /** API 2.1+, when Apple says. */
  enableMdmDisownFlag?: boolean;
}

/** A device of the organization as the plan needs it. */
export interface ObservedOrgDevice {
  serialNumber: string;
  productFamily?: string;
  orderNumber?: string;
  /** `ASSIGNED` or `UNASSIGNED`, as Apple says. */
  status?: string;
}

/** What one organization looks like at Apple. */
export interface OrganizationObservation {
  servers: ObservedServer[];
  /** Serial → id of the server it is assigned to (absent: assigned to none). */
  assignedServer: Map<string, string>;
  devices: ObservedOrgDevice[];
}

/** The attributes read from each device (Apple's `fields[orgDevices]`). */
export const ORG_DEVICE_FIELDS = ['serialNumber', 'productFamily', 'orderNumber', 'status'] as const;

/** Reads the organization's servers, their linkages and its devices. */
export async function observeOrganization(client: OwnershipAbmClient, opts: { signal?: AbortSignal } = {}): Promise<OrganizationObservation> {
  const call = opts.signal ? { signal: opts.signal } : {};
  const servers: ObservedServer[] = (await client.listMdmServers(call)).map((s) => ({
    id: s.id,
    serverName: s.serverName,
    ...(s.status !== undefined ? { status: s.status } : {}),
    ...(s.serverType !== undefined ? { serverType: s.serverType } : {}),
    ...(s.enableMdmDisownFlag !== undefined ? { enableMdmDisownFlag: s.enableMdmDisownFlag } : {}),
  }));
  const assignedServer = new Map<string, string>();
  for (const s of servers) {
    if (s.status === 'DELETED') continue;
    for await (const serial of client.listServerDeviceSerials(s.id, { ...call, limit: 1000 })) assignedServer.set(serial, s.id);
  }
  const devices: ObservedOrgDevice[] = [];
  for await (const d of client.listOrgDevices({ ...call, limit: 1000, fields: ORG_DEVICE_FIELDS })) {
    const dev: ObservedOrgDevice = { serialNumber: d.serialNumber };
    if (d.productFamily !== undefined) dev.productFamily = d.productFamily;
    if (d.orderNumber !== undefined) dev.orderNumber = d.orderNumber;
    if (d.status !== undefined) dev.status = d.status;
    devices.push(dev);
  }
  return { servers, assignedServer, devices };
}
