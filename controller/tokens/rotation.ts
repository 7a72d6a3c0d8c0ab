/**
 * Renewing a DEP server token without downtime (issue 16, item 1).
 *
 * `depctl keys rotate` stages a new key next to the current one: `<key>.next.pem` (the staged private key)
 * and `<key>.next.cert.pem` (its certificate, to upload to Apple Business Manager), where `<key>` is the
 * `privateKey` file reference without its `.pem` extension. The current key keeps decrypting the current
 * token. Each pass, for each server, {@link TokenRotation.resolve} reads the token file; when its bytes are
 * new it opens it with the staged key, then the current one, asks `GET /account` whether it is the MDM
 * server recorded for this name, and only then uses it: with the staged key it switches (the staged key
 * is renamed onto the key path, atomically; the old key is kept as `<key>.retired-<date>.pem` and deleted
 * after the grace period) and writes an audit entry. A renewed token no key opens, or one that belongs to
 * another server, is refused: the token accepted before stays in use (it is kept in memory only, never
 * written anywhere), and the status says why.
 *
 * Secrets never leave this module except as the decrypted token handed to the DEP client: messages name
 * files, fingerprints (a hash prefix) and Apple's public identity fields only.
 */
import { createHash } from 'node:crypto';
import { copyFile, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ServerToken } from '../dep/types.js';
import { isTokenError } from './errors.js';
import { openServerToken } from './server-token.js';
import { tokenFingerprint } from './token.js';
import { DEFAULT_RETIRED_KEY_GRACE_MS, currentCertPath, keyStem, retiredKeyPath, stagedCertPath, stagedKeyPath } from './key-paths.js';

export { DEFAULT_RETIRED_KEY_GRACE_MS, currentCertPath, retiredKeyPath, stagedCertPath, stagedKeyPath } from './key-paths.js';

/** Where a renewal of one server stands, for status and `depctl status`. */
export type RenewalState =
  /** A key is staged; the renewed token has not arrived (or is not encrypted to it yet). */
  | 'staged'
  /** A renewed token arrived but `GET /account` did not answer: checked again next pass. */
  | 'verifying'
  /** The renewed token was refused (no key opens it, or it belongs to another server). */
  | 'refused'
  /** The renewed token is in use but the key files could not be renamed (read-only Secret mount). */
  | 'switch-pending'
  /** The renewed token is in use and the staged key became the current key. */
  | 'switched';

/** One server's renewal as status shows it. Paths are shown; key material never is. */
export interface RenewalStatus {
  state: RenewalState;
  /** "renewal in progress" for staged/verifying/refused/switch-pending; "renewed" once switched. */
  summary: string;
  message: string;
  /** The steps still to do, in order (empty once switched). */
  stepsLeft: string[];
  stagedKey: string;
  tokenFile: string;
  /** ISO 8601 time of the last change of state. */
  since: string;
}

/** What happened to a renewal; the controller logs, audits and notifies these. */
export interface RotationEvent {
  server: string;
  kind: 'switched' | 'refused' | 'accepted' | 'retired-deleted' | 'switch-pending';
  message: string;
  /** Fingerprint prefixes of the tokens before and after (not secret). */
  before?: string | null;
  after?: string | null;
  /** Why a renewal was refused: `unreadable` (no key opens it) or `other-server`. */
  reason?: 'unreadable' | 'other-server';
}

/** Who Apple says a token belongs to (the fields of `GET /account` compared). */
export interface TokenIdentity {
  serverUuid: string;
  serverName: string;
}

/** What resolve needs from the rest of depctl for one server. */
export interface ResolveInput {
  server: string;
  tokenPath: string;
  keyPath: string;
  /** Asks Apple (`GET /account`) who the token belongs to, with a DEP client built for this token. */
  account(token: ServerToken): Promise<TokenIdentity>;
  /** The identity recorded for this server, or null before the first answer. */
  recorded(): Promise<TokenIdentity | null>;
}

/** A renewed token was refused and there is no earlier token to keep using. */
export class RenewalRefusedError extends Error {
  override readonly name = 'RenewalRefusedError';
}

interface Accepted {
  token: ServerToken;
  digest: string;
  openedWith: 'staged' | 'current';
}

/** Options of {@link TokenRotation}. */
export interface TokenRotationOptions {
  now: () => Date;
  /** How long a retired key is kept (default {@link DEFAULT_RETIRED_KEY_GRACE_MS}). */
  retiredKeyGraceMs?: number;
  onEvent?: (e: RotationEvent) => void | Promise<void>;
}

/**
 * The controller's token keeper: one per process. It remembers, in memory, the token each server last used,
 * so a refused renewal never stops a server that was working.
 */
export class TokenRotation {
  private readonly accepted = new Map<string, Accepted>();
  private readonly statuses = new Map<string, RenewalStatus>();
  private readonly graceMs: number;

  constructor(private readonly opts: TokenRotationOptions) {
    this.graceMs = opts.retiredKeyGraceMs ?? DEFAULT_RETIRED_KEY_GRACE_MS;
  }

  /** The renewal status of a server, or null when no renewal is going on. */
  status(server: string): RenewalStatus | null {
    return this.statuses.get(server) ?? null;
  }

  /**
   * The token this server uses this pass. Throws (a TokenError, a read error or {@link RenewalRefusedError})
   * only when there is no usable token at all; a refused renewal with an earlier token returns the earlier one.
   */
  async resolve(input: ResolveInput): Promise<ServerToken> {
    const { server, tokenPath, keyPath } = input;
    const stagedPath = stagedKeyPath(keyPath);
    const previous = this.accepted.get(server);
    await this.deleteExpiredRetired(server, keyPath);
    const [currentKey, stagedKey] = await Promise.all([readOptional(keyPath), readOptional(stagedPath)]);
    let tokenBytes: Buffer;
    try {
      tokenBytes = await readRequired(tokenPath, 'token');
    } catch (err) {
      if (!previous) throw err;
      await this.refuse(input, `${(err as Error).message}; the token in use before keeps working`, 'unreadable', previous);
      return previous.token;
    }
    const digest = createHash('sha256').update(tokenBytes).digest('hex');

    if (previous && previous.digest === digest) {
      if (previous.openedWith === 'staged' && stagedKey) await this.switchKeys(input, previous, previous);
      else if (stagedKey) this.setStaged(input);
      else if (this.statuses.get(server)?.state !== 'switched') this.statuses.delete(server);
      return previous.token;
    }

    // A token file this process has not used yet: open it with the staged key first, then the current one.
    const attempts: { role: 'staged' | 'current'; key: Buffer }[] = [];
    if (stagedKey) attempts.push({ role: 'staged', key: stagedKey });
    if (currentKey) attempts.push({ role: 'current', key: currentKey });
    let opened: Accepted | undefined;
    let lastError: unknown = currentKey ? undefined : new Error(`cannot read private key file ${keyPath} (not found)`);
    for (const a of attempts) {
      try {
        opened = { token: openServerToken(tokenBytes, a.key).token, digest, openedWith: a.role };
        break;
      } catch (err) {
        // A wrong key is expected for one of the two; keep the more telling error (the current key's).
        lastError = err;
        if (!isTokenError(err) || (err.code !== 'wrong_key' && err.code !== 'invalid_key')) break;
      }
    }
    if (!opened) {
      if (!previous && !stagedKey) throw lastError;
      const why = isTokenError(lastError) ? lastError.message : (lastError as Error).message;
      const keys = stagedKey ? `neither the staged key (${basename(stagedPath)}) nor the current key (${basename(keyPath)})` : `the key ${basename(keyPath)}`;
      const message = `the token file ${tokenPath} was refused: ${keys} opens it (${why}); ${previous ? 'the token in use before keeps working' : 'no earlier token is in use'}`;
      await this.refuse(input, message, 'unreadable', previous);
      if (previous) return previous.token;
      throw new RenewalRefusedError(message);
    }

    // First token of this process, opened with the current key: the usual start, the planner checks identity.
    if (!previous && opened.openedWith === 'current') {
      this.accepted.set(server, opened);
      if (stagedKey) this.setStaged(input);
      return opened.token;
    }

    // A renewed token (new bytes, or encrypted to the staged key): the same MDM server as recorded?
    let identity: TokenIdentity;
    try {
      identity = await input.account(opened.token);
    } catch (err) {
      const message = `a renewed token at ${tokenPath} could not be checked yet (GET /account failed: ${(err as Error).message}); ${previous ? 'the token in use before keeps working; ' : ''}checked again next pass`;
      this.setStatus(input, 'verifying', message, ['depctl verifies the renewed token with GET /account (next pass)']);
      if (previous) return previous.token;
      return opened.token;
    }
    const recorded = await input.recorded();
    if (recorded && recorded.serverUuid.toUpperCase() !== identity.serverUuid.toUpperCase()) {
      const message =
        `the renewed token at ${tokenPath} belongs to MDM server "${identity.serverName}" (uuid ${identity.serverUuid}), not to "${recorded.serverName}" ` +
        `(uuid ${recorded.serverUuid}) recorded for ${server}; it was not used. Download the token of "${recorded.serverName}" in Apple Business Manager` +
        (previous ? '; the token in use before keeps working' : '');
      await this.refuse(input, message, 'other-server', previous);
      if (previous) return previous.token;
      throw new RenewalRefusedError(message);
    }
    this.accepted.set(server, opened);
    if (opened.openedWith === 'staged') {
      await this.switchKeys(input, opened, previous);
    } else {
      const before = previous ? tokenFingerprint(previous.token).slice(0, 16) : null;
      const after = tokenFingerprint(opened.token).slice(0, 16);
      if (before !== after) await this.emit({ server, kind: 'accepted', message: `${server}: a renewed token (same key) was checked with GET /account and is in use`, before, after });
      if (stagedKey) this.setStaged(input);
      else this.statuses.delete(server);
    }
    return opened.token;
  }

  /** Makes the staged key the current one (rename), keeps the old key as retired, audits the switch. */
  private async switchKeys(input: ResolveInput, opened: Accepted, previous: Accepted | undefined): Promise<void> {
    const { server, keyPath } = input;
    const stagedPath = stagedKeyPath(keyPath);
    const now = this.opts.now();
    const firstTry = previous !== opened;
    const retired = retiredKeyPath(keyPath, now);
    try {
      // Copy, then rename over: the key path always holds a key (rename replaces atomically).
      await copyFile(keyPath, retired).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await rename(stagedPath, keyPath);
      await rename(stagedCertPath(keyPath), currentCertPath(keyPath)).catch(() => undefined);
    } catch (err) {
      await unlink(retired).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      const message =
        `the renewed token of ${server} opens with the staged key and is in use, but the key files could not be renamed (${code}, a read-only Secret?): ` +
        `replace ${basename(keyPath)} with the content of ${basename(stagedPath)} in your secret store, then remove ${basename(stagedPath)}`;
      if (this.statuses.get(server)?.state !== 'switch-pending') {
        this.setStatus(input, 'switch-pending', message, [`replace ${basename(keyPath)} with ${basename(stagedPath)} in the Secret and remove ${basename(stagedPath)}`]);
        await this.emit({ server, kind: 'switch-pending', message, before: previous ? tokenFingerprint(previous.token).slice(0, 16) : null, after: tokenFingerprint(opened.token).slice(0, 16) });
      }
      return;
    }
    this.accepted.set(server, { ...opened, openedWith: 'current' });
    const message = `${server}: switched to the renewed token; ${basename(stagedPath)} is now ${basename(keyPath)}, the old key is kept as ${basename(retired)} for ${Math.round(this.graceMs / 86_400_000)} day(s)`;
    this.statuses.set(server, { state: 'switched', summary: 'renewed', message, stepsLeft: [], stagedKey: stagedPath, tokenFile: input.tokenPath, since: now.toISOString() });
    if (firstTry || previous) {
      await this.emit({ server, kind: 'switched', message, before: previous && previous !== opened ? tokenFingerprint(previous.token).slice(0, 16) : null, after: tokenFingerprint(opened.token).slice(0, 16) });
    }
  }

  private async refuse(input: ResolveInput, message: string, reason: 'unreadable' | 'other-server', previous: Accepted | undefined): Promise<void> {
    const was = this.statuses.get(input.server);
    this.setStatus(input, 'refused', message, [
      `download the token of this MDM server again in Apple Business Manager and place it at ${input.tokenPath}`,
      'depctl verifies it (decrypts with the staged or current key, GET /account same server)',
    ]);
    if (was?.state === 'refused' && was.message === message) return;
    await this.emit({ server: input.server, kind: 'refused', reason, message, before: previous ? tokenFingerprint(previous.token).slice(0, 16) : null, after: null });
  }

  private setStaged(input: ResolveInput): void {
    const current = this.statuses.get(input.server);
    if (current?.state === 'staged') return;
    this.setStatus(input, 'staged', `a new key is staged at ${stagedKeyPath(input.keyPath)}; the current token keeps working until a renewed one arrives`, renewalStepsAfterStaging(input.keyPath, input.tokenPath));
  }

  private setStatus(input: ResolveInput, state: RenewalState, message: string, stepsLeft: string[]): void {
    this.statuses.set(input.server, { state, summary: 'renewal in progress', message, stepsLeft, stagedKey: stagedKeyPath(input.keyPath), tokenFile: input.tokenPath, since: this.opts.now().toISOString() });
  }

  /** Deletes this server's retired keys whose grace period is over. */
  private async deleteExpiredRetired(server: string, keyPath: string): Promise<void> {
    const dir = dirname(keyPath);
    const stem = basename(keyStem(keyPath));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    const cutoff = this.opts.now().getTime() - this.graceMs;
    for (const name of names) {
      const m = /^(.*)\.retired-(\d{4}-\d{2}-\d{2})\.pem$/.exec(name);
      if (!m || m[1] !== stem) continue;
      const retiredAt = Date.parse(`${m[2] ?? ''}T00:00:00Z`);
      if (Number.isNaN(retiredAt) || retiredAt > cutoff) continue;
      try {
        await unlink(join(dir, name));
        await this.emit({ server, kind: 'retired-deleted', message: `${server}: deleted the retired key ${name} (grace period over)` });
      } catch {
        // A read-only mount: the operator removes it; nothing depends on it.
      }
    }
  }

  private async emit(e: RotationEvent): Promise<void> {
    await this.opts.onEvent?.(e);
  }
}

/** The steps left once a key is staged, in the order an admin does them. */
export function renewalStepsAfterStaging(keyPath: string, tokenPath: string): string[] {
  return [
    `upload the public key ${stagedCertPath(keyPath)} in Apple Business Manager: Preferences → your MDM server → Edit → upload public key`,
    'download the new server token (Download Token) for that MDM server',
    `place it at ${tokenPath} (replacing the current token)`,
    'depctl verifies it on its next pass (staged key decrypts it, GET /account names the same MDM server) and switches',
  ];
}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function readRequired(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${what} file ${path} (${code === 'ENOENT' ? 'not found' : (code ?? 'error')})`);
  }
}
