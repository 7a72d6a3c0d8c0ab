import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError, type CliIo } from './io.js';
import type { DepConfig, MdmServer, SecretRef } from '../config/types.js';
import type { LoadOptions } from '../config/load.js';
import type * as DepModule from '../dep/index.js';
import type { DepClient, DepRequestEvent } from '../dep/index.js';
import type * as TokensModule from '../tokens/index.js';
import { DEFAULT_USER_AGENT, userAgentProblem } from '../dep/user-agent.js';
import { inputLimits, inputLimitsFromEnv, type InputLimits } from '../config/limits.js';
import { DEFAULT_SECRET_ENV_PREFIX, defaultTrustPolicy, depUrlProblem, readSecretRef, secretRefProblem, type TrustPolicy } from '../config/trust.js';
import { DEFAULT_STATE_URL } from '../store/state-url.js';
import type { Store } from '../store/index.js';
import type { ServerHandle } from '../reconcile/planner.js';
import type { ServerToken } from '../dep/types.js';
import { stagedKeyPath } from '../tokens/key-paths.js';
import type { TokenRotation } from '../tokens/rotation.js';

// Every command module imports this one for its global options and settings, `--help` included: the config
// loader, the DEP client (undici), the token code (node-forge) and the store drivers (pg, better-sqlite3) are
// imported where they are used, not here (issue item 4, start-up).

/** Apple's DEP service. */
export const APPLE_DEP_URL = 'https://mdmenrollment.apple.com';

/** Settings every command that talks to Apple or the store shares (global flags and environment). */
export interface RuntimeSettings {
  stateUrl: string;
  secretsDir: string;
  /** DEPCTL_DEP_URL: overrides every server's depUrl (simulator, proxy). */
  depUrlOverride: string | undefined;
  /** `User-Agent` of every DEP call (--user-agent, then DEPCTL_USER_AGENT); the client's default when absent. */
  userAgent?: string;
  /** Bounds on what loading a configuration may cost (--input-limit, then DEPCTL_INPUT_LIMITS; config/limits.ts). */
  inputLimits?: InputLimits;
  /** Which files, environment variables and DEP hosts the configuration may name (config/trust.ts). */
  trust?: TrustPolicy;
}

/** Adds the global options to the program (read back with `runtimeSettings`). */
export function addGlobalOptions(program: Command): void {
  program
    .option('--state <url>', `state store: sqlite:PATH, postgres://… (env DEPCTL_STATE; default ${DEFAULT_STATE_URL})`)
    .option('--secrets-dir <dir>', 'directory that { file: … } secret references resolve against (env DEPCTL_SECRETS_DIR; default ./secrets)')
    .option('--user-agent <value>', `User-Agent sent to Apple's DEP service (env DEPCTL_USER_AGENT; default ${DEFAULT_USER_AGENT})`)
    .option('--allow-secret-root <dir>', '{ file } references may also point into DIR (repeatable; env DEPCTL_ALLOW_SECRET_ROOTS, comma-separated)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--allow-secret-env <name>', '{ env } references may also read NAME (repeatable; env DEPCTL_ALLOW_SECRET_ENV)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--secret-env-prefix <prefix>', `{ env } references read only names with this prefix (env DEPCTL_SECRET_ENV_PREFIX; default ${DEFAULT_SECRET_ENV_PREFIX})`)
    .option('--allow-dep-host <host[:port]>', "depUrl, and an Organization's apiUrl/tokenUrl, may reach HOST besides Apple's (a simulator, a proxy; repeatable; env DEPCTL_ALLOW_DEP_HOSTS)", (v: string, prev: string[] = []) => [...prev, v])
    .option('--input-limit <name=value>', 'raise or lower a bound on loading a configuration, e.g. documents=20000 (repeatable; env DEPCTL_INPUT_LIMITS, comma-separated)', (v: string, prev: string[] = []) => [...prev, v]);
}

/**
 * The User-Agent for DEP calls: the flag wins over DEPCTL_USER_AGENT, and either must be non-empty printable
 * ASCII (a usage error otherwise). Apple refuses a missing User-Agent and some values (dep-protocol.md
 * section 2), hence a way to send another.
 */
function resolveUserAgent(flag: string | undefined, io: CliIo): string {
  const [value, source] = flag !== undefined ? [flag, '--user-agent'] : [io.env['DEPCTL_USER_AGENT'], 'DEPCTL_USER_AGENT'];
  if (value === undefined) return DEFAULT_USER_AGENT;
  const problem = userAgentProblem(value);
  if (problem !== undefined) throw new UsageError(`${source} ${problem}`);
  return value;
}

/** Resolves the global settings from flags, then environment, then defaults. */
export function runtimeSettings(cmd: Command, io: CliIo): RuntimeSettings {
  const g = cmd.optsWithGlobals<{
    state?: string;
    secretsDir?: string;
    userAgent?: string;
    inputLimit?: string[];
    allowSecretRoot?: string[];
    allowSecretEnv?: string[];
    secretEnvPrefix?: string;
    allowDepHost?: string[];
  }>();
  const secretsDir = resolve(io.cwd, g.secretsDir ?? io.env['DEPCTL_SECRETS_DIR'] ?? 'secrets');
  const list = (flag: string[] | undefined, env: string): string[] => [...(io.env[env] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''), ...(flag ?? [])];
  return {
    stateUrl: g.state ?? io.env['DEPCTL_STATE'] ?? DEFAULT_STATE_URL,
    secretsDir,
    trust: {
      secretsDir,
      secretRoots: list(g.allowSecretRoot, 'DEPCTL_ALLOW_SECRET_ROOTS').map((r) => resolve(io.cwd, r)),
      envPrefix: g.secretEnvPrefix ?? io.env['DEPCTL_SECRET_ENV_PREFIX'] ?? DEFAULT_SECRET_ENV_PREFIX,
      envNames: list(g.allowSecretEnv, 'DEPCTL_ALLOW_SECRET_ENV'),
      depHosts: list(g.allowDepHost, 'DEPCTL_ALLOW_DEP_HOSTS').map((h) => h.toLowerCase()),
    },
    depUrlOverride: io.env['DEPCTL_DEP_URL'] || undefined,
    userAgent: resolveUserAgent(g.userAgent, io),
    inputLimits: resolveInputLimits(g.inputLimit, io),
  };
}

/** The defaults, then DEPCTL_INPUT_LIMITS, then each --input-limit; a usage error names a bad entry. */
function resolveInputLimits(flags: string[] | undefined, io: CliIo): InputLimits {
  const env = inputLimitsFromEnv(io.env['DEPCTL_INPUT_LIMITS']);
  try {
    inputLimits(env);
  } catch (err) {
    throw new UsageError(`DEPCTL_INPUT_LIMITS: ${(err as Error).message}`);
  }
  try {
    return inputLimits([...env, ...(flags ?? [])]);
  } catch (err) {
    throw new UsageError(`--input-limit: ${(err as Error).message}`);
  }
}

/**
 * DEPCTL_PUBLIC_URL as a loadConfig option: the public base URL profiles' `url: { enrollment }` expand
 * against (issue 14). Without it such a profile's url is unresolved: validate warns, plan and apply refuse.
 */
export function publicUrlOption(io: CliIo): { publicUrl?: string } {
  const v = io.env['DEPCTL_PUBLIC_URL'];
  return v ? { publicUrl: v } : {};
}

/** A failure already explained to the user; the command ends with exit code 1. */
export class ReportedFailure extends Error {
  override readonly name = 'ReportedFailure';
}

/** Loads and validates the config; on any error prints the problems (like validate) and fails. */
export async function loadValidConfig(dir: string, io: CliIo, settings?: RuntimeSettings): Promise<DepConfig> {
  const [{ loadConfig }, { renderText }] = await Promise.all([import('../config/load.js'), import('./views/problems.js')]);
  const result = await loadConfig(resolve(io.cwd, dir), { ...(settings ? settingsLoadOptions(settings) : {}), ...publicUrlOption(io) });
  if (!result.config) {
    io.stderr(renderText(dir, result, false));
    throw new ReportedFailure('the configuration is invalid; nothing was done');
  }
  for (const p of result.problems) io.stderr(`${join(dir, p.file)}:${p.line}:${p.column}: ${p.severity}: ${p.message} [${p.code}]\n`);
  return result.config;
}

/** Opens the state store (SQLite by default); relative SQLite paths resolve against the working directory. */
export async function openState(settings: RuntimeSettings, io: CliIo): Promise<Store> {
  let url = settings.stateUrl;
  if (url.startsWith('sqlite:') && !url.startsWith('sqlite::memory:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
    url = `sqlite:${resolve(io.cwd, path)}`;
  }
  const { openStore } = await import('../store/index.js');
  return openStore(url);
}

/** The path of a `{ file }` secret reference: absolute, or under the secrets directory. */
function secretPath(file: string, settings: RuntimeSettings): string {
  return isAbsolute(file) ? file : join(settings.secretsDir, file);
}

/**
 * Decrypts with the current key; when that key does not open the token and a staged key (`keys rotate`) sits
 * next to it, with the staged key: `plan` and `apply` work with a renewed token before the controller switches.
 */
async function loadWithStagedKey(
  tokenBytes: Buffer,
  keyBytes: Buffer,
  keyRef: SecretRef,
  settings: RuntimeSettings,
  load: (token: Buffer, key: Buffer) => ServerToken,
): Promise<ServerToken> {
  try {
    return load(tokenBytes, keyBytes);
  } catch (err) {
    if (!('file' in keyRef) || (err as { code?: string }).code !== 'wrong_key') throw err;
    let staged: Buffer;
    try {
      staged = await readFile(stagedKeyPath(secretPath(keyRef.file, settings)));
    } catch {
      throw err;
    }
    try {
      return load(tokenBytes, staged);
    } catch {
      throw err;
    }
  }
}

/** Reads a secret (never logged): a file under the secrets directory, or an environment variable. */
async function readSecret(ref: SecretRef, what: string, server: string, settings: RuntimeSettings, io: CliIo): Promise<Buffer> {
  return readSecretRef(ref, trustOf(settings), io.env, `MdmServer "${server}": ${what}`);
}

/** What the operator's settings say about loading a configuration: the secrets directory, input limits, trust policy. */
export function settingsLoadOptions(settings: RuntimeSettings): Pick<LoadOptions, 'secretsDir' | 'limits' | 'trust'> {
  return { secretsDir: settings.secretsDir, ...(settings.inputLimits ? { limits: settings.inputLimits } : {}), ...(settings.trust ? { trust: settings.trust } : {}) };
}

/** The operator's trust policy, or the default one for settings made without it (tests, the quickstart). */
export function trustOf(settings: RuntimeSettings): TrustPolicy {
  return settings.trust ?? defaultTrustPolicy(settings.secretsDir);
}

/** Servers ready to talk to Apple: one client each, or the reason there is none. */
export interface ServerConnections {
  handles: ServerHandle[];
  clients: Map<string, DepClient>;
  close(): Promise<void>;
}

/**
 * Decrypts each server's token and builds its DEP client. A server whose token is missing, cannot be
 * decrypted or has expired gets an error instead of a client; the others go on.
 */
export async function connectServers(
  config: DepConfig,
  settings: RuntimeSettings,
  io: CliIo,
  store: Store,
  opts: { now: () => Date; onRequest?: (server: string, e: DepRequestEvent) => void; rotation?: TokenRotation },
): Promise<ServerConnections> {
  const handles: ServerHandle[] = [];
  const clients = new Map<string, DepClient>();
  const libs: ConnectLibs = { ...(await import('../dep/index.js')), ...(await import('../tokens/index.js')) };
  for (const server of config.servers) {
    handles.push(await connect(server, settings, io, store, opts, clients, libs));
  }
  return {
    handles,
    clients,
    close: async () => {
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
}

/** What connect uses from the DEP client and the token code, imported once per connectServers. */
type ConnectLibs = Pick<typeof DepModule, 'createDepClient'> &
  Pick<typeof TokensModule, 'loadServerToken' | 'tokenExpiry' | 'tokenFingerprint' | 'isTokenError'>;

async function connect(
  server: MdmServer,
  settings: RuntimeSettings,
  io: CliIo,
  store: Store,
  opts: { now: () => Date; onRequest?: (server: string, e: DepRequestEvent) => void; rotation?: TokenRotation },
  clients: Map<string, DepClient>,
  { createDepClient, loadServerToken, tokenExpiry, tokenFingerprint, isTokenError }: ConnectLibs,
): Promise<ServerHandle> {
  const fail = (reason: 'token-unavailable' | 'token-expired', message: string, tokenExpiresAt: Date | null = null): ServerHandle => ({
    name: server.name,
    client: null,
    problem: { server: server.name, kind: 'terminal', reason, message, retryAt: null },
    tokenExpiresAt,
  });
  // A depUrl from the configuration reaches Apple or a host the operator allowed; DEPCTL_DEP_URL is the operator's own.
  const hostProblem = settings.depUrlOverride === undefined && server.depUrl !== undefined ? depUrlProblem(server.depUrl, trustOf(settings)) : undefined;
  if (hostProblem !== undefined) {
    return { name: server.name, client: null, problem: { server: server.name, kind: 'terminal', reason: 'endpoint-not-allowed', message: `MdmServer "${server.name}": ${hostProblem}`, retryAt: null }, tokenExpiresAt: null };
  }
  // The same rule for references as validation's, before any file is opened (the rotation path reads by path).
  for (const [what, ref] of [['token', server.token], ['private key', server.privateKey]] as const) {
    const refProblem = secretRefProblem(ref, trustOf(settings));
    if (refProblem !== undefined) return fail('token-unavailable', `MdmServer "${server.name}": ${what}: ${refProblem}`);
  }
  let token;
  try {
    if (opts.rotation && 'file' in server.token && 'file' in server.privateKey) {
      // The controller: renewed tokens are checked (staged key, GET /account) before they replace the one in use.
      token = await opts.rotation.resolve({
        server: server.name,
        tokenPath: secretPath(server.token.file, settings),
        keyPath: secretPath(server.privateKey.file, settings),
        account: async (candidate) => {
          const probe = createDepClient({ baseUrl: settings.depUrlOverride ?? server.depUrl ?? APPLE_DEP_URL, token: candidate, ...(settings.userAgent !== undefined ? { userAgent: settings.userAgent } : {}) });
          try {
            const a = await probe.account();
            return { serverUuid: a.server_uuid, serverName: a.server_name };
          } finally {
            await probe.close();
          }
        },
        recorded: async () => {
          const r = await store.getServer(server.name);
          return r?.serverUuid ? { serverUuid: r.serverUuid, serverName: r.appleServerName ?? '' } : null;
        },
      });
    } else {
      const tokenBytes = await readSecret(server.token, 'token', server.name, settings, io);
      const keyBytes = await readSecret(server.privateKey, 'private key', server.name, settings, io);
      token = await loadWithStagedKey(tokenBytes, keyBytes, server.privateKey, settings, loadServerToken);
    }
  } catch (err) {
    const detail = isTokenError(err) ? `MdmServer "${server.name}": ${err.message}` : (err as Error).message;
    return fail('token-unavailable', detail);
  }
  const expiry = tokenExpiry(token, opts.now());
  await store.upsertServer(server.name, { tokenFingerprint: tokenFingerprint(token), tokenExpiresAt: expiry.expiresAt, at: opts.now() });
  if (expiry.expired) {
    return fail('token-expired', `the server token of "${server.name}" expired on ${expiry.expiresAt.toISOString().slice(0, 10)}; download a new token in Apple Business Manager`, expiry.expiresAt);
  }
  const client = createDepClient({
    baseUrl: settings.depUrlOverride ?? server.depUrl ?? APPLE_DEP_URL,
    token,
    ...(settings.userAgent !== undefined ? { userAgent: settings.userAgent } : {}),
    ...(opts.onRequest ? { onRequest: (e: DepRequestEvent) => opts.onRequest?.(server.name, e) } : {}),
  });
  clients.set(server.name, client);
  return { name: server.name, client, problem: null, tokenExpiresAt: expiry.expiresAt };
}
