/**
 * The environment of every git child process: credentials, non-interactive settings and a filtered copy
 * of the caller's environment.
 *
 * Why an https token travels as `http.<origin>/.extraHeader` in `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/
 * `GIT_CONFIG_VALUE_n` (git >= 2.31) rather than the alternatives:
 * - a token in the remote URL is written to `.git/config` by `git clone`, and printed in git's errors;
 * - `-c http.extraHeader=…` puts it on the command line, readable by every user through `ps` and
 *   `/proc/PID/cmdline`, whereas `/proc/PID/environ` is readable by the same user only;
 * - `GIT_ASKPASS` needs a helper program on disk and is only consulted after a 401 round trip.
 * The header is scoped to the repository's origin, so a redirect or another remote never receives it.
 */
import { GitSourceError } from './errors.js';
import type { RepoLocation } from './repo-spec.js';

/** Credentials for the config repository. Values come from `main.ts`/`cli/`, which read the environment. */
export interface GitAuth {
  /** Token for https remotes, sent as HTTP Basic credentials `httpsUser:httpsToken`. */
  httpsToken?: string;
  /** User name for the token; GitHub App and Actions tokens use `x-access-token` (the default). */
  httpsUser?: string;
  /** Private key file for ssh remotes (`ssh -i`); only this key is offered (`IdentitiesOnly=yes`). */
  sshKeyFile?: string;
  /** known_hosts file to verify the ssh server against (`UserKnownHostsFile`). */
  sshKnownHostsFile?: string;
  /** Verify the ssh host key (default true). `false` accepts any host key: only for tests and labs. */
  sshStrictHostKeyChecking?: boolean;
}

/** What running git needs besides the arguments. */
export interface GitInvocation {
  /** The complete environment for git child processes. */
  env: Record<string, string>;
  /** The simple-git safety switches that must be lifted for the variables we set ourselves. */
  unsafe: { allowUnsafeSshCommand?: boolean; allowUnsafeConfigEnvCount?: boolean };
  /** Every secret value (and derived form) to scrub from git's output. */
  secrets: string[];
}

/** `GIT_*` variables kept from the caller's environment: CA settings for https behind corporate proxies. */
const KEPT_GIT_VARS = new Set(['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH']);
/**
 * Other variables that make git run programs or read other config (simple-git refuses most of them) or
 * print request headers; the checkout is ours, so none of them is inherited.
 */
const DROPPED_VARS = new Set(['EDITOR', 'PAGER', 'PREFIX', 'SSH_ASKPASS', 'VISUAL']);

const DEFAULT_HTTPS_USER = 'x-access-token';

/**
 * Builds the environment for git from `baseEnv` (normally `process.env`, passed down by `main.ts`),
 * the repository location and the auth options. Throws a {@link GitSourceError} of kind `invalid-spec`
 * when the auth options do not fit the URL (a token for an ssh remote, a token over plain http to a
 * non-loopback host, a key file for https).
 */
export function buildGitInvocation(
  location: RepoLocation,
  auth: GitAuth | undefined,
  baseEnv: Readonly<Record<string, string | undefined>>,
): GitInvocation {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(baseEnv)) {
    if (value === undefined || DROPPED_VARS.has(key.toUpperCase())) continue;
    if (key.toUpperCase().startsWith('GIT_') && !KEPT_GIT_VARS.has(key.toUpperCase())) continue;
    env[key] = value;
  }
  // English messages (errors.ts recognises missing refs by text) and never a prompt on a terminal.
  env.LC_ALL = 'C';
  env.GIT_TERMINAL_PROMPT = '0';
  const secrets: string[] = [];
  const unsafe: GitInvocation['unsafe'] = {};

  const token = auth?.httpsToken ?? location.password;
  if (location.password !== undefined) secrets.push(location.password);
  const sshOptionsGiven = auth?.sshKeyFile !== undefined || auth?.sshKnownHostsFile !== undefined;
  if (sshOptionsGiven && location.kind !== 'ssh') {
    throw new GitSourceError('invalid-spec', `ssh key or known-hosts options were given for a ${location.kind} repository`);
  }
  if (token !== undefined && token !== '') {
    if (location.kind !== 'https' && location.kind !== 'http') {
      throw new GitSourceError('invalid-spec', `an https token was given for a ${location.kind} repository`);
    }
    const origin = new URL(location.url).origin;
    if (location.kind === 'http' && !isLoopback(new URL(location.url).hostname)) {
      throw new GitSourceError('invalid-spec', `refusing to send a token over plain http to ${origin}`);
    }
    const user = auth?.httpsUser ?? location.username ?? DEFAULT_HTTPS_USER;
    const basic = Buffer.from(`${user}:${token}`, 'utf8').toString('base64');
    secrets.push(token, basic);
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${origin}/.extraHeader`;
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
    unsafe.allowUnsafeConfigEnvCount = true;
  }
  if (location.kind === 'ssh') {
    env.GIT_SSH_COMMAND = sshCommand(auth);
    unsafe.allowUnsafeSshCommand = true;
  }
  return { env, unsafe, secrets };
}

/**
 * The `GIT_SSH_COMMAND` for the auth options. `BatchMode=yes` makes ssh fail instead of asking for a
 * passphrase or a host-key confirmation, which nobody would answer in a controller.
 */
export function sshCommand(auth: GitAuth | undefined): string {
  // Keepalives end a stalled connection on their own: killing git on timeout does not kill its ssh child.
  const parts = ['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3'];
  if (auth?.sshKeyFile !== undefined) parts.push('-i', shellQuote(auth.sshKeyFile), '-o', 'IdentitiesOnly=yes');
  const strict = auth?.sshStrictHostKeyChecking ?? true;
  if (auth?.sshKnownHostsFile !== undefined) {
    parts.push('-o', shellQuote(`UserKnownHostsFile=${auth.sshKnownHostsFile}`));
  } else if (!strict) {
    // Do not record unverified keys in anyone's known_hosts.
    parts.push('-o', 'UserKnownHostsFile=/dev/null');
  }
  parts.push('-o', `StrictHostKeyChecking=${strict ? 'yes' : 'no'}`);
  return parts.join(' ');
}

/** git runs `GIT_SSH_COMMAND` through `sh -c`, so file names are single-quoted. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
