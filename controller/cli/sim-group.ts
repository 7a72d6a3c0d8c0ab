/**
 * `depctl sim --servers …` / `--config DIR`: one simulator process serving several MDM servers, so
 * that `DEPCTL_DEP_URL` can point every `MdmServer` of a config at it. Each server gets its own token
 * (`DIR/NAME/token.p7m` + `DIR/NAME/key.pem` with `--out DIR`), fleet, profiles and faults. With a
 * config, the server names come from its `MdmServer` documents and every serial its assignments list
 * is seeded on one of the assignment's servers (controller/sim/config-seed.ts has the heuristic).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type LoadResult } from '../config/load.js';
import type { DepConfig, SecretRef } from '../config/types.js';
import type { ServerToken } from '../dep/types.js';
import type { RunningSimulatorGroup, SimulatorServerSpec } from '../sim/api.js';
import { seedFromConfig } from '../sim/config-seed.js';
import { startSimulatorGroup } from '../sim/index.js';
import { encryptServerToken, generateKeyPair } from '../tokens/index.js';
import { type CliIo, UsageError } from './io.js';
import { DEFAULT_SIM_DEVICES, DEFAULT_SIM_LISTEN, parseListen, type SimCommandOptions } from './sim.js';
import { startAbmForGroup, type StartedAbm } from './sim-abm.js';
import type { AbmScope } from '../abm/types.js';

/** Options of a multi-server `depctl sim`, already parsed. */
export interface SimGroupCommandOptions extends SimCommandOptions {
  /** Server names (`--servers a,b`); default: the config's MdmServer names. */
  servers?: string[];
  /** A depctl config directory (`--config`), relative to `cwd`. */
  config?: string;
  /** Also serve the Apple Business API for the group's organisation (`--abm`, issue 15; sim-abm.ts). */
  abm?: { listen: string; scope?: AbmScope };
}

/** One started server, with what the command wrote for it. */
export interface StartedGroupServer {
  name: string;
  /** Devices on the server at start. */
  devices: number;
  /** How many of them are serials the config lists. */
  listed: number;
  /** Absolute paths of its token and key (no key with `certificate`), when `out` was given. */
  files?: { key?: string; token: string };
  /** How the config reads this server's token and key, when it names the server. */
  refs?: { token: SecretRef; privateKey: SecretRef };
}

/** A group started by the command. */
export interface StartedSimGroup {
  group: RunningSimulatorGroup;
  servers: StartedGroupServer[];
  /** Serials the config lists for servers that are not in the group. */
  skipped: number;
  /** The Business API simulator, with `abm`. */
  abm?: StartedAbm;
  stop(): Promise<void>;
}

/** The config did not load: `result` holds the problems to print (exit 1). */
export class SimConfigError extends Error {
  override readonly name = 'SimConfigError';
  constructor(readonly result: LoadResult) {
    super('the configuration is invalid; the simulator was not started');
  }
}

/** Names travel in admin paths and `--out DIR/NAME/`, as startSimulatorGroup requires. */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Parses `--servers a,b` into names (usage error when empty, malformed or repeated). */
export function parseServerNames(text: string): string[] {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError('--servers needs at least one name');
  for (const n of names) if (!SERVER_NAME.test(n)) throw new UsageError(`--servers: "${n}" is not a server name (letters, digits, ".", "_", "-")`);
  if (new Set(names).size !== names.length) throw new UsageError('--servers lists a name twice');
  return names;
}

async function writeCredentials(dir: string, token: ServerToken, certificatePem: string | undefined): Promise<{ key?: string; token: string }> {
  await mkdir(dir, { recursive: true });
  const tokenFile = path.join(dir, 'token.p7m');
  if (certificatePem !== undefined) {
    await writeFile(tokenFile, encryptServerToken(token, certificatePem));
    return { token: tokenFile };
  }
  const pair = generateKeyPair({ commonName: 'depctl-sim' });
  const key = path.join(dir, 'key.pem');
  await writeFile(key, pair.privateKeyPem, { mode: 0o600 });
  // writeFile's mode applies only when it creates the file; an existing key.pem is tightened too.
  await chmod(key, 0o600);
  await writeFile(tokenFile, encryptServerToken(token, pair.certificatePem));
  return { key, token: tokenFile };
}

async function readConfig(opts: SimGroupCommandOptions): Promise<DepConfig | undefined> {
  if (opts.config === undefined) return undefined;
  const result = await loadConfig(path.resolve(opts.cwd, opts.config), { now: new Date(opts.now?.() ?? Date.now()), unresolvedUrl: 'warning' });
  if (!result.config) throw new SimConfigError(result);
  return result.config;
}

/**
 * Starts a simulator group and writes each server's token files: the command's core, also used by
 * tests and the quickstart. Files are written before the function resolves; on any failure the
 * group is closed again.
 */
export async function startSimGroupCommand(opts: SimGroupCommandOptions): Promise<StartedSimGroup> {
  const { host, port } = parseListen(opts.listen ?? DEFAULT_SIM_LISTEN);
  const config = await readConfig(opts);
  const names = opts.servers ?? config?.servers.map((s) => s.name) ?? [];
  if (names.length === 0) throw new UsageError(config ? 'the config defines no MdmServer; name the servers with --servers' : 'name the servers with --servers or --config');
  const seeding = config ? seedFromConfig(config, names) : undefined;
  const specs: SimulatorServerSpec[] = names.map((name) => ({
    name,
    devices: opts.devices ?? DEFAULT_SIM_DEVICES,
    seed: opts.seed ?? 1,
    extraDevices: seeding?.devices.get(name) ?? [],
  }));
  const group = await startSimulatorGroup({ servers: specs, host, port, ...(opts.now ? { now: opts.now } : {}) });
  try {
    const certificatePem = opts.certificate !== undefined ? await readFile(path.resolve(opts.cwd, opts.certificate), 'utf8') : undefined;
    const servers: StartedGroupServer[] = [];
    for (const spec of specs) {
      const server = group.servers.get(spec.name);
      if (!server) continue;
      const started: StartedGroupServer = { name: spec.name, devices: server.inspect.deviceCount(), listed: spec.extraDevices?.length ?? 0 };
      if (opts.out !== undefined) started.files = await writeCredentials(path.resolve(opts.cwd, opts.out, spec.name), server.token, certificatePem);
      const fromConfig = config?.servers.find((s) => s.name === spec.name);
      if (fromConfig) started.refs = { token: fromConfig.token, privateKey: fromConfig.privateKey };
      servers.push(started);
    }
    const abm = opts.abm
      ? await startAbmForGroup(group, {
          ...opts.abm,
          ...(opts.out !== undefined ? { outDir: path.resolve(opts.cwd, opts.out) } : {}),
          ...(config ? { config } : {}),
          ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
          ...(opts.now ? { now: opts.now } : {}),
        })
      : undefined;
    const stop = async (): Promise<void> => {
      await abm?.stop();
      await group.close();
    };
    return { group, servers, skipped: seeding?.skipped ?? 0, ...(abm ? { abm } : {}), stop };
  } catch (err) {
    await group.close();
    throw err;
  }
}

function refText(ref: SecretRef): string {
  return 'env' in ref ? `env ${ref.env}` : `{ file: ${ref.file} }`;
}

/**
 * How to hand the written files to depctl as the config asks: environment references hold the
 * secret itself (config/types.ts SecretRef), file references resolve in the secrets directory.
 */
function configHint(s: StartedGroupServer, outDir: string): string {
  const refs = s.refs as NonNullable<StartedGroupServer['refs']>;
  const files = s.files as NonNullable<StartedGroupServer['files']>;
  const pairs: [SecretRef, string | undefined, string][] = [
    [refs.token, files.token, 'token.p7m'],
    [refs.privateKey, files.key, 'key.pem'],
  ];
  const exports = pairs.flatMap(([ref, file]) => ('env' in ref && file !== undefined ? [`${ref.env}="$(cat ${file})"`] : []));
  const matching = pairs.every(([ref, file, base]) => 'env' in ref || file === undefined || path.normalize(ref.file) === path.join(s.name, base));
  const advice = [
    ...(exports.length > 0 ? [`export ${exports.join(' ')}`] : []),
    ...(pairs.some(([ref]) => 'file' in ref) ? [matching ? `use ${outDir} as the secrets directory` : 'copy the files to the secrets directory'] : []),
  ];
  return `  config: ${s.name} reads ${refText(refs.token)} and ${refText(refs.privateKey)}: ${advice.join('; ')}\n`;
}

/** Prints what a started group serves: one line per server, then the URL to export. */
export function describeGroup(io: CliIo, started: StartedSimGroup): void {
  const { group } = started;
  io.stdout(`DEP simulator listening on ${group.url} (${started.servers.length} MDM servers; admin endpoints at ${group.url}/_sim/servers)\n`);
  for (const s of started.servers) {
    const listed = s.listed > 0 ? ` (${s.listed} listed in the config)` : '';
    const where = s.files === undefined ? 'token at /_sim/servers/' + s.name + '/token' : s.files.key !== undefined ? `token ${s.files.token}, key ${s.files.key}` : `token ${s.files.token} (encrypted to the given certificate)`;
    io.stdout(`  ${s.name}: ${s.devices} devices${listed}; ${where}\n`);
  }
  if (started.skipped > 0) io.stdout(`  ${started.skipped} listed serials skipped: none of their assignment's servers is simulated\n`);
  io.stdout(`DEPCTL_DEP_URL=${group.url}\n`);
  for (const s of started.servers) {
    if (s.refs !== undefined && s.files !== undefined) io.stdout(configHint(s, path.dirname(path.dirname(s.files.token))));
  }
  if (started.abm) describeAbm(io, started.abm);
  io.stdout('Stop with Ctrl-C (SIGINT) or SIGTERM.\n');
}

/** Prints the Business API side: where it listens, the account files and the Organization to use. */
function describeAbm(io: CliIo, abm: StartedAbm): void {
  const { sim } = abm;
  io.stdout(`Apple Business API simulator listening on ${sim.url} (${sim.inspect.deviceCount()} devices, ${Object.keys(abm.servers).length} MDM servers; moves reach the DEP servers' sync)\n`);
  if (abm.files) {
    io.stdout(`  wrote ${abm.files.privateKeyPath} (API account private key), ${abm.files.accountPath} (client ID, key ID) and ${abm.files.organizationPath}\n`);
  } else {
    io.stdout('  the API account\'s private key is written only with --out\n');
  }
  io.stdout(`DEPCTL_ALLOW_DEP_HOSTS=${new URL(sim.url).host}\n`);
  io.stdout(abm.organizationYaml.replace(/^/gm, '  ').replace(/ +$/, ''));
}
