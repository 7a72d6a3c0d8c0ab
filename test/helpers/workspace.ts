import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';
import type { Device, ServerToken } from '../../controller/dep/types.js';
import { runDepctl, type CliResult } from './cli.js';
import { git } from './git.js';

/** A throw-away depctl workspace: a git repository of config, a secrets directory and a SQLite state file. */
export interface Workspace {
  root: string;
  configDir: string;
  secretsDir: string;
  statePath: string;
  env: Record<string, string>;
  /** Writes config files and commits them; returns the commit id. */
  commit(files: Record<string, string>, message?: string): Promise<string>;
  /** Writes a server's token (encrypted to a fresh key pair, as Apple does) and key into the secrets directory. */
  addServerSecrets(name: string, token: ServerToken): Promise<void>;
  /** Runs depctl in-process in this workspace (with a clock when given). */
  depctl(args: string[], opts?: { now?: () => Date }): Promise<CliResult>;
  cleanup(): Promise<void>;
}


/** Creates a workspace whose DEP URL is `depUrl`. */
export async function makeWorkspace(depUrl: string): Promise<Workspace> {
  const root = await mkdtemp(join(tmpdir(), 'depctl-ws-'));
  const configDir = join(root, 'config');
  const secretsDir = join(root, 'secrets');
  const statePath = join(root, 'state', 'state.db');
  await mkdir(configDir, { recursive: true });
  await mkdir(secretsDir, { recursive: true, mode: 0o700 });
  git(configDir, 'init', '-q', '-b', 'main');
  const env = { DEPCTL_DEP_URL: depUrl, DEPCTL_STATE: `sqlite:${statePath}`, DEPCTL_SECRETS_DIR: secretsDir };
  return {
    root,
    configDir,
    secretsDir,
    statePath,
    env,
    async commit(files, message = 'update config') {
      for (const [rel, content] of Object.entries(files)) {
        await mkdir(dirname(join(configDir, rel)), { recursive: true });
        await writeFile(join(configDir, rel), content);
      }
      git(configDir, 'add', '-A');
      git(configDir, 'commit', '-q', '-m', message);
      return git(configDir, 'rev-parse', 'HEAD');
    },
    async addServerSecrets(name, token) {
      const { privateKeyPem, certificatePem } = generateKeyPair({ commonName: `depctl-test-${name}` });
      await mkdir(join(secretsDir, name), { recursive: true });
      await writeFile(join(secretsDir, name, 'key.pem'), privateKeyPem, { mode: 0o600 });
      await writeFile(join(secretsDir, name, 'token.p7m'), encryptServerToken(token, certificatePem));
      await chmod(join(secretsDir, name, 'key.pem'), 0o600);
    },
    depctl(args, opts) {
      return runDepctl(args, { cwd: root, env, ...(opts?.now ? { now: opts.now } : {}) });
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Reads a file of the workspace (for assertions). */
export function readWs(ws: Workspace, rel: string): Promise<string> {
  return readFile(join(ws.root, rel), 'utf8');
}

/** A workspace against `sim` whose `main` server holds the simulator's token (MAIN_SERVER_YAML's secrets). */
export async function mainWorkspace(sim: { url: string; token: ServerToken }): Promise<Workspace> {
  const ws = await makeWorkspace(sim.url);
  await ws.addServerSecrets('main', sim.token);
  return ws;
}

/** `count` Mac records for `sim.portal.addDevices`. */
export function macRecords(count: number): Partial<Device>[] {
  return Array.from({ length: count }, () => ({ device_family: 'Mac', os: 'OSX', model: 'MacBook Pro' }));
}

/** `count` iPad records for `sim.portal.addDevices`. */
export function ipadRecords(count: number): Partial<Device>[] {
  return Array.from({ length: count }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' }));
}
