/**
 * What a configuration may point the controller at. The YAML names secrets (`{ file }`, `{ env }`) and the
 * DEP endpoint (`depUrl`), and a pull request writes YAML; so the operator's settings, never the YAML, say
 * which files, environment variables and hosts those may be:
 *
 * - `{ file: PATH }` resolves inside the secrets directory. An absolute path, a `..` that leaves it, or a
 *   symbolic link that leads out is refused unless it lies under a root the operator allowed
 *   (`--allow-secret-root DIR`).
 * - `{ env: NAME }` reads only variables whose name starts with the prefix (default `DEPCTL_`) or that the
 *   operator listed (`--allow-secret-env NAME`), and never depctl's own settings (`DEPCTL_STATE` holds the
 *   store's password, `DEPCTL_API_TOKEN` the API's): a pull request cannot make the controller read
 *   `AWS_SECRET_ACCESS_KEY` or the store credentials as a "token".
 * - `depUrl` must reach Apple (`https://mdmenrollment.apple.com`) or a host the operator allowed
 *   (`--allow-dep-host HOST[:PORT]`: a simulator on loopback, a proxy). `DEPCTL_DEP_URL` is the operator's own
 *   setting and is not limited.
 * - An Organization's `apiUrl` and `tokenUrl` (the Apple Business/School API, issue 15) must reach Apple's
 *   hosts (`api-business.apple.com`, `api-school.apple.com`, `account.apple.com`) or a host the operator
 *   allowed with the same `--allow-dep-host`: the token endpoint receives the signed client assertion and the
 *   API the bearer token, so a pull request must not be able to send them elsewhere.
 *
 * One module for validation (a problem at the YAML's line) and for reading (the same rule at the moment a
 * secret is read, with symbolic links resolved), used by every kind that holds references.
 */
import { readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import type { SecretRef } from './types.js';

/** Apple's DEP host (dep-protocol.md section 3). */
export const APPLE_DEP_HOSTS: readonly string[] = ['mdmenrollment.apple.com'];

/** depctl's own settings: never readable through a `{ env }` reference, whatever the prefix. */
export const SETTINGS_ENV: readonly string[] = [
  'DEPCTL_API_TOKEN',
  'DEPCTL_DEP_URL',
  'DEPCTL_GITLAB_TOKEN',
  'DEPCTL_GIT_TOKEN',
  'DEPCTL_INPUT_LIMITS',
  'DEPCTL_LISTEN',
  'DEPCTL_NOTIFY_URL',
  'DEPCTL_PUBLIC_URL',
  'DEPCTL_READ_TOKEN',
  'DEPCTL_SECRETS_DIR',
  'DEPCTL_STATE',
  'DEPCTL_USER_AGENT',
  'DEPCTL_WEBHOOK_SECRET',
  'DEPCTL_ALLOW_SECRET_ROOTS',
  'DEPCTL_ALLOW_SECRET_ENV',
  'DEPCTL_SECRET_ENV_PREFIX',
  'DEPCTL_ALLOW_DEP_HOSTS',
];

/** The default prefix of environment variables a `{ env }` reference may read. */
export const DEFAULT_SECRET_ENV_PREFIX = 'DEPCTL_';

/** The operator's trust settings. */
export interface TrustPolicy {
  /** The secrets directory, absolute. */
  secretsDir: string;
  /** More directories `{ file }` may point into (absolute). */
  secretRoots: readonly string[];
  /** `{ env }` names must start with this (empty string: any name; the operator's choice). */
  envPrefix: string;
  /** `{ env }` names allowed whatever their prefix. */
  envNames: readonly string[];
  /** `depUrl` hosts besides Apple's: `host` or `host:port` (lower case; IPv6 in brackets). */
  depHosts: readonly string[];
}

/** The policy when the operator set nothing but the secrets directory. */
export function defaultTrustPolicy(secretsDir: string): TrustPolicy {
  return { secretsDir: resolve(secretsDir), secretRoots: [], envPrefix: DEFAULT_SECRET_ENV_PREFIX, envNames: [], depHosts: [] };
}

function inside(root: string, path: string): boolean {
  const r = root.endsWith(sep) ? root : root + sep;
  return path === root || path.startsWith(r);
}

/** Where a `{ file }` reference points, by its text (before symbolic links). */
export function secretFilePath(file: string, policy: Pick<TrustPolicy, 'secretsDir'>): string {
  return isAbsolute(file) ? normalize(file) : resolve(policy.secretsDir, file);
}

/** Why a reference is not allowed under the policy, or undefined. Lexical: symbolic links are checked on read. */
export function secretRefProblem(ref: SecretRef, policy: TrustPolicy): string | undefined {
  if ('env' in ref) {
    if (SETTINGS_ENV.includes(ref.env)) return `environment variable ${ref.env} is a depctl setting, not a secret a configuration may name`;
    if (policy.envNames.includes(ref.env)) return undefined;
    if (policy.envPrefix !== '' && !ref.env.startsWith(policy.envPrefix)) {
      return `environment variable ${ref.env} is not one depctl may read: names start with ${policy.envPrefix} (or the operator lists the name with --allow-secret-env)`;
    }
    return undefined;
  }
  const path = secretFilePath(ref.file, policy);
  if (inside(policy.secretsDir, path)) return undefined;
  if (policy.secretRoots.some((root) => inside(resolve(root), path))) return undefined;
  const how = isAbsolute(ref.file) ? 'an absolute path outside the secrets directory' : 'a path that leaves the secrets directory';
  return `${JSON.stringify(ref.file)} is ${how}; secret files are named relative to the secrets directory (the operator may allow another root with --allow-secret-root)`;
}

/** Why a `depUrl` is not allowed under the policy, or undefined. */
export function depUrlProblem(depUrl: string, policy: Pick<TrustPolicy, 'depHosts'>): string | undefined {
  let url: URL;
  try {
    url = new URL(depUrl);
  } catch {
    return `depUrl ${JSON.stringify(depUrl)} is not a URL`;
  }
  if (url.username !== '' || url.password !== '') return 'depUrl may not carry a user name or password';
  const host = url.hostname.toLowerCase();
  const hostPort = url.port === '' ? host : `${host}:${url.port}`;
  if (url.protocol === 'https:' && url.port === '' && APPLE_DEP_HOSTS.includes(host)) return undefined;
  const allowed = policy.depHosts.map((h) => h.toLowerCase());
  if (allowed.includes(hostPort) || allowed.includes(host)) return undefined;
  return `depUrl host ${hostPort} is not Apple's (${APPLE_DEP_HOSTS.join(', ')}); the operator allows other hosts with --allow-dep-host (a simulator, a proxy)`;
}

/** Apple's Business/School API hosts (dep-protocol.md section 7): the API of each scope, and the token endpoint. */
export const APPLE_ABM_HOSTS: Readonly<Record<'apiUrl' | 'tokenUrl', readonly string[]>> = {
  apiUrl: ['api-business.apple.com', 'api-school.apple.com'],
  tokenUrl: ['account.apple.com'],
};

/**
 * Why an Organization's `apiUrl` or `tokenUrl` is not allowed under the policy, or undefined: Apple's host over
 * https on the default port, or a host the operator allowed (`--allow-dep-host`, shared with depUrl).
 */
export function abmUrlProblem(field: 'apiUrl' | 'tokenUrl', value: string, policy: Pick<TrustPolicy, 'depHosts'>): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${field} ${JSON.stringify(value)} is not a URL`;
  }
  if (url.username !== '' || url.password !== '') return `${field} may not carry a user name or password`;
  if (url.search !== '' || url.hash !== '') return `${field} may not carry a query or fragment`;
  const host = url.hostname.toLowerCase();
  const hostPort = url.port === '' ? host : `${host}:${url.port}`;
  const apple = APPLE_ABM_HOSTS[field];
  if (url.protocol === 'https:' && url.port === '' && apple.includes(host)) return undefined;
  const allowed = policy.depHosts.map((h) => h.toLowerCase());
  if (allowed.includes(hostPort) || allowed.includes(host)) return undefined;
  return `${field} host ${hostPort} is not Apple's (${apple.join(', ')}); the operator allows other hosts with --allow-dep-host (a simulator, a proxy)`;
}

/** A reference the policy refuses, or a file that cannot be read. Its message names no secret. */
export class SecretRefError extends Error {
  override readonly name = 'SecretRefError';
}

/**
 * Reads a secret under the policy: the lexical rule, then, for files, the real path (a symbolic link inside
 * the secrets directory that leads out is refused unless its target is under an allowed root).
 */
export async function readSecretRef(ref: SecretRef, policy: TrustPolicy, env: Readonly<Record<string, string | undefined>>, what: string): Promise<Buffer> {
  const problem = secretRefProblem(ref, policy);
  if (problem !== undefined) throw new SecretRefError(`${what}: ${problem}`);
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new SecretRefError(`${what}: environment variable ${ref.env} is not set`);
    return Buffer.from(value);
  }
  const path = secretFilePath(ref.file, policy);
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw new SecretRefError(`${what}: cannot read ${path} (${readCode(err)})`);
  }
  const roots = await Promise.all([policy.secretsDir, ...policy.secretRoots].map((r) => realpath(resolve(r)).catch(() => resolve(r))));
  if (!roots.some((root) => inside(root, real))) {
    throw new SecretRefError(`${what}: ${path} is a symbolic link that leads outside the secrets directory (to ${real}); the operator may allow that root with --allow-secret-root`);
  }
  try {
    return await readFile(real);
  } catch (err) {
    throw new SecretRefError(`${what}: cannot read ${path} (${readCode(err)})`);
  }
}

function readCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : (code ?? 'error');
}

/** A reader bound to a policy and an environment, for modules that take one (enrollment, credentials). */
export function secretRefReader(policy: TrustPolicy, env: Readonly<Record<string, string | undefined>>): (ref: SecretRef, what?: string) => Promise<Buffer> {
  return (ref, what = 'secret') => readSecretRef(ref, policy, env, what);
}

/** Joins a relative `{ file }` onto the secrets directory: the path shown to admins (no reading). */
export function secretFileDisplay(file: string, secretsDir: string): string {
  return isAbsolute(file) ? file : join(secretsDir, file);
}
