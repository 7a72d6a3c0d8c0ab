/**
 * `depctl sim --servers …|--config DIR --abm`: next to the DEP simulator group, the Apple Business API
 * simulator (controller/sim/abm) of the same organisation (issue 15). Its MDM servers are the group's servers
 * (named as the config's `abmServerName`, else the server's name); its devices are the group's fleet, each
 * on the server that holds it in DEP, plus any serial an MdmServer's `devices` lists that no DEP server holds
 * (unassigned). connectAbmToDep mirrors every finished activity into DEP: a device assigned to another
 * server leaves the old server's sync (`deleted`) and appears in the new one's (`added`).
 *
 * The fleet is read over HTTP with the real DEP client (as any MDM would see it); those start-up requests
 * are then cleared from each server's request counts, so `/_sim/requests` shows only what clients did.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent } from 'undici';
import type { DepConfig } from '../config/types.js';
import { createDepClient } from '../dep/client.js';
import type { Device } from '../dep/types.js';
import type { AbmScope } from '../abm/types.js';
import type { RunningSimulatorGroup } from '../sim/api.js';
import { connectAbmToDep, startAbmSimulator, writeApiAccount, type AbmSimOrgDevice, type RunningAbmSimulator, type WrittenApiAccount } from '../sim/abm/index.js';
import { parseListen } from './sim.js';

/** Default address of the Business API simulator: next to the DEP simulator's 8089. */
export const DEFAULT_ABM_LISTEN = '127.0.0.1:8090';

/** Options of the Business API side of `depctl sim`. */
export interface SimAbmOptions {
  /** `HOST:PORT` (port 0: any free one). */
  listen: string;
  /** Default: the scope of the config's first Organization, else `business`. */
  scope?: AbmScope;
  /** Directory for the API account and the example Organization (absolute). */
  outDir?: string;
  /** The config the group was started from, for server names in ABM and listed serials. */
  config?: DepConfig;
  seed?: number;
  now?: () => number;
}

/** The files written for the organisation. */
export interface AbmFiles extends WrittenApiAccount {
  /** An Organization document pointing at the simulator. */
  organizationPath: string;
}

/** The started Business API simulator, tied to the group. */
export interface StartedAbm {
  sim: RunningAbmSimulator;
  /** ABM server id → DEP group server name. */
  servers: Record<string, string>;
  files?: AbmFiles;
  /** The example Organization (YAML), also written to `files.organizationPath`. */
  organizationYaml: string;
  stop(): Promise<void>;
}

/** DEP device_family → the Business API's productFamily (iPod touch has none there). */
const FAMILY: Readonly<Record<string, string>> = { Mac: 'Mac', iPad: 'iPad', iPhone: 'iPhone', AppleTV: 'AppleTV', Vision: 'Vision', Watch: 'Watch' };

/** The OrgDevice attributes of a DEP record. */
function orgAttributes(d: Device, orderNumber: string): Record<string, unknown> {
  const a: Record<string, unknown> = { orderNumber };
  const family = d.device_family === undefined ? undefined : FAMILY[d.device_family];
  if (family !== undefined) a['productFamily'] = family;
  if (d.model !== undefined) a['deviceModel'] = d.model;
  if (d.color !== undefined) a['color'] = d.color.toUpperCase();
  if (d.imei !== undefined) a['imei'] = d.imei;
  if (d.meid !== undefined) a['meid'] = d.meid;
  if (d.eid !== undefined) a['eid'] = d.eid;
  if (d.wifi_mac_address !== undefined) a['wifiMacAddress'] = d.wifi_mac_address;
  if (d.bluetooth_mac_address !== undefined) a['bluetoothMacAddress'] = d.bluetooth_mac_address;
  return a;
}

/** Every device a group server holds, fetched with the real DEP client; its request counts are reset after. */
async function fleetOf(group: RunningSimulatorGroup, name: string, dispatcher: Agent): Promise<Device[]> {
  const server = group.servers.get(name);
  if (!server) return [];
  const client = createDepClient({ baseUrl: group.url, token: server.token, dispatcher, now: () => server.inspect.now() });
  const out: Device[] = [];
  try {
    for await (const page of client.fetchAllDevices({ limit: 1000 })) out.push(...page.devices);
  } finally {
    await client.close();
  }
  server.inspect.resetRequestCounts();
  return out;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

/** An Organization document for the simulator's account; `keyFile` is relative to the secrets directory. */
export function organizationYaml(sim: RunningAbmSimulator, name: string, keyFile: string): string {
  return [
    'apiVersion: depctl/v1',
    'kind: Organization',
    `metadata: { name: ${name} }`,
    'spec:',
    `  scope: ${sim.account.scope}`,
    `  clientId: ${sim.account.clientId}`,
    `  keyId: ${sim.account.keyId}`,
    `  privateKey: { file: ${yamlString(keyFile)} }`,
    `  apiUrl: ${sim.url}`,
    `  tokenUrl: ${sim.tokenUrl}`,
    '',
  ].join('\n');
}

/**
 * Starts the Business API simulator for a running group and connects it; on failure nothing stays open.
 * With `outDir`, writes `abm-api-account.pem` (0600) and `abm-api-account.json` (client ID, key ID, scope)
 * as Apple hands them out, and `organization.yaml.example`, an Organization pointing at the simulator.
 */
export async function startAbmForGroup(group: RunningSimulatorGroup, opts: SimAbmOptions): Promise<StartedAbm> {
  const { host, port } = parseListen(opts.listen);
  const names = [...group.servers.keys()];
  const abmName = (name: string): string => opts.config?.servers.find((s) => s.name === name)?.ownership?.abmServerName ?? name;
  const agent = new Agent();
  const orgDevices: AbmSimOrgDevice[] = [];
  const held = new Set<string>();
  try {
    for (const [k, name] of names.entries()) {
      const fleet = await fleetOf(group, name, agent);
      fleet.forEach((d, i) => {
        held.add(d.serial_number);
        // One order per 50 devices of a server, so that orderNumbers rules have something to match.
        const order = `SIM${String(k + 1).padStart(2, '0')}${String(Math.floor(i / 50)).padStart(5, '0')}`;
        orgDevices.push({ serialNumber: d.serial_number, serverName: abmName(name), attributes: orgAttributes(d, order) });
      });
    }
  } finally {
    await agent.close();
  }
  for (const s of opts.config?.servers ?? []) {
    for (const serial of s.ownership?.serials ?? []) {
      if (held.has(serial)) continue;
      held.add(serial);
      orgDevices.push({ serialNumber: serial, attributes: { orderNumber: 'SIM0000000' } });
    }
  }
  const sim = await startAbmSimulator({
    host,
    port,
    scope: opts.scope ?? opts.config?.organizations?.[0]?.scope ?? 'business',
    seed: opts.seed ?? 1,
    servers: names.map((name) => ({ serverName: abmName(name) })),
    orgDevices,
    ...(opts.now ? { now: opts.now } : {}),
  });
  try {
    const ids = sim.inspect.serverIds();
    const servers = Object.fromEntries(names.map((name, k) => [ids[k] as string, name]));
    const bridge = connectAbmToDep(sim, group, servers);
    const orgName = opts.config?.organizations?.[0]?.name ?? 'sim';
    let files: AbmFiles | undefined;
    let yaml = organizationYaml(sim, orgName, 'abm-api-account.pem');
    if (opts.outDir !== undefined) {
      await mkdir(opts.outDir, { recursive: true });
      const account = await writeApiAccount(opts.outDir, sim.account, 'abm-api-account');
      yaml = organizationYaml(sim, orgName, path.basename(account.privateKeyPath));
      // Not *.yaml: a config loader walking a directory that holds the secrets must not read it as a document.
      const organizationPath = path.join(opts.outDir, 'organization.yaml.example');
      await writeFile(organizationPath, yaml);
      files = { ...account, organizationPath };
    }
    return {
      sim,
      servers,
      ...(files ? { files } : {}),
      organizationYaml: yaml,
      stop: async () => {
        bridge.disconnect();
        await sim.close();
      },
    };
  } catch (err) {
    await sim.close();
    throw err;
  }
}
