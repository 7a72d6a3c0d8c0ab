/**
 * Which MDM server the configuration wants each device of an organisation on (issue 15), for the planner:
 * an index built once from a loaded config, then one O(1) lookup per device.
 *
 * Precedence, when rules of different servers match one device: an explicit serial (`devices.serials`,
 * `devices.serialFiles`), then an order number (`devices.orderNumbers`), then a product family
 * (`devices.productFamilies`). Validation guarantees that each serial, order number and (per organization)
 * product family is claimed by at most one server, so the answer never depends on document order.
 */
import type { DepConfig, MdmServer, Organization } from './types.js';

/** Which rule made a server the owner: the plan's reason. */
export type OwnershipRule = 'serial' | 'orderNumber' | 'productFamily';

/** The server a device should be on. */
export interface DesiredOwner {
  /** The MdmServer's metadata.name. */
  server: string;
  /** Its name in Apple Business/School Manager (what the API's mdmServers list shows as serverName). */
  abmServerName: string;
  rule: OwnershipRule;
}

/** The attributes of an OrgDevice the rules read (Business API names). */
export interface OwnershipDevice {
  serialNumber: string;
  orderNumber?: string | null | undefined;
  productFamily?: string | null | undefined;
}

/** One organization's rules. */
export interface OrganizationOwnership {
  /** The Organization document (undefined only in a config that failed validation). */
  organization: Organization | undefined;
  /** Its servers (those whose spec.organization names it), in config order. */
  servers: readonly MdmServer[];
  bySerial: ReadonlyMap<string, DesiredOwner>;
  byOrderNumber: ReadonlyMap<string, DesiredOwner>;
  byProductFamily: ReadonlyMap<string, DesiredOwner>;
}

/** The rules of every organization, by Organization name. */
export interface OwnershipIndex {
  organizations: ReadonlyMap<string, OrganizationOwnership>;
}

/** An OrganizationOwnership while the index is built. */
interface Building extends OrganizationOwnership {
  servers: MdmServer[];
  bySerial: Map<string, DesiredOwner>;
  byOrderNumber: Map<string, DesiredOwner>;
  byProductFamily: Map<string, DesiredOwner>;
}

/** Builds the index: one pass over the servers' declarations (about one Map entry per owned serial). */
export function buildOwnershipIndex(config: Pick<DepConfig, 'servers' | 'organizations'>): OwnershipIndex {
  const organizations = new Map<string, Building>();
  const entry = (name: string): Building => {
    let e = organizations.get(name);
    if (!e) {
      e = { organization: config.organizations?.find((o) => o.name === name), servers: [], bySerial: new Map(), byOrderNumber: new Map(), byProductFamily: new Map() };
      organizations.set(name, e);
    }
    return e;
  };
  for (const o of config.organizations ?? []) entry(o.name);
  for (const server of config.servers) {
    const own = server.ownership;
    if (!own) continue;
    const e = entry(own.organization);
    e.servers.push(server);
    const owner = (rule: OwnershipRule): DesiredOwner => ({ server: server.name, abmServerName: own.abmServerName, rule });
    const bySerial = owner('serial');
    // First claim wins, as validation reports any second one.
    for (const s of own.serials) if (!e.bySerial.has(s)) e.bySerial.set(s, bySerial);
    const byOrder = owner('orderNumber');
    for (const o of own.orderNumbers) if (!e.byOrderNumber.has(o)) e.byOrderNumber.set(o, byOrder);
    const byFamily = owner('productFamily');
    for (const f of own.productFamilies) if (!e.byProductFamily.has(f)) e.byProductFamily.set(f, byFamily);
  }
  return { organizations };
}

/**
 * The server `device` of `organization` should be on, with the rule that decided it, or undefined when no
 * server of the organization claims it (an unclaimed device: Organization.unclaimedDevices says what to do).
 * Serials and order numbers are compared in upper case, as the config stores them.
 */
export function desiredOwner(index: OwnershipIndex, organization: string, device: OwnershipDevice): DesiredOwner | undefined {
  const rules = index.organizations.get(organization);
  if (!rules) return undefined;
  const serial = rules.bySerial.get(device.serialNumber) ?? rules.bySerial.get(device.serialNumber.trim().toUpperCase());
  if (serial) return serial;
  if (device.orderNumber) {
    const order = rules.byOrderNumber.get(device.orderNumber.trim().toUpperCase());
    if (order) return order;
  }
  return device.productFamily ? rules.byProductFamily.get(device.productFamily) : undefined;
}
