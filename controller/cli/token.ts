import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { createDepClient } from '../dep/index.js';
import { identityFromAccount, identityOfRecord, type RecordedIdentity } from '../reconcile/identity.js';
import { openStore } from '../store/index.js';
import { WrongFileTypeError, isTokenError, openServerToken, summarizeToken, tokenFingerprint, type OpenedServerToken, type TokenSummary } from '../tokens/index.js';
import { type CliIo, ExitCode } from './io.js';
import { examples } from './help.js';
import type { Register } from './program.js';
import { APPLE_DEP_URL, runtimeSettings } from './runtime.js';

/** Days before expiry from which `token inspect` says "expires soon" (the first drift threshold). */
const EXPIRY_WARNING_DAYS = 30;

type Format = 'text' | 'json';

const TOKEN_EXAMPLES = examples([
  ['depctl token inspect secrets/lyon_smime.p7m --key secrets/depctl-key.pem', 'expiry and organisation of a downloaded token'],
  ['depctl token inspect token.p7m --key key.pem --dep-url https://mdmenrollment.apple.com', 'also ask Apple which MDM server it opens'],
  ['depctl token inspect token.p7m --key key.pem --format json', 'the same as JSON, for a monitoring script'],
]);

/** Registers `depctl token inspect FILE [--key KEY] [--format text|json]`. */
export const registerToken: Register = (program, io, setExit) => {
  const token = program.command('token').description('DEP server tokens (.p7m from Apple Business Manager)').addHelpText('after', TOKEN_EXAMPLES);
  const inspect = token
    .command('inspect')
    .description('decrypt a server token and show its expiry and the Apple MDM server it belongs to (never its secrets)')
    .argument('<file>', "the token: Apple's .p7m, PKCS#7, or the decrypted token JSON")
    .option('--key <file>', 'PEM private key whose certificate was uploaded to Apple (needed for encrypted tokens)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--dep-url <url>', `also ask this DEP service which MDM server the token belongs to (GET /account), e.g. ${APPLE_DEP_URL}`)
    .addHelpText('after', TOKEN_EXAMPLES)
    .action(async (file: string, opts: { key?: string; format: Format; depUrl?: string }, cmd: Command) => {
      setExit(await inspectToken(io, file, { ...opts, stateUrl: explicitStateUrl(cmd, io) }));
    });
  // program.ts routes output and exits of top-level commands only; nested ones need the same.
  for (const cmd of [token, inspect] as Command[]) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  }
};

/**
 * Which Apple MDM server the token belongs to: asked of Apple (`--dep-url`), or as depctl recorded it for the
 * MdmServer whose token has this fingerprint (`--state`).
 */
interface InspectAccount extends RecordedIdentity {
  source: 'apple' | 'store';
  /** The MdmServer name the state store holds this token under (store only). */
  server: string | null;
}

/** Machine-readable result of `token inspect --format json`. */
interface InspectJson extends TokenSummary {
  file: string;
  format: OpenedServerToken['format'];
  encrypted: boolean;
  cipher: string | null;
  recipient: string | null;
  status: 'valid' | 'expiring' | 'expired';
  /** Null when unknown: offline without a state store, or not found in it. */
  account: InspectAccount | null;
  /** Why the account is unknown, when it was looked for and not found. */
  accountNote: string | null;
}

/** The state URL when the user gave one (`--state` or DEPCTL_STATE): inspect never opens the default store. */
function explicitStateUrl(cmd: Command, io: CliIo): string | undefined {
  const given = cmd.optsWithGlobals<{ state?: string }>().state ?? io.env['DEPCTL_STATE'];
  return given ? runtimeSettings(cmd, io).stateUrl : undefined;
}

async function inspectToken(io: CliIo, file: string, opts: { key?: string; format: Format; depUrl?: string; stateUrl?: string }): Promise<number> {
  const tokenPath = path.resolve(io.cwd, file);
  const fail = (code: string, message: string, exit: number): number => {
    if (opts.format === 'json') io.stdout(`${JSON.stringify({ file: tokenPath, error: { code, message } }, null, 2)}\n`);
    io.stderr(`depctl: ${message}\n`);
    return exit;
  };
  const tokenBytes = await readInput(tokenPath);
  if (typeof tokenBytes === 'string') return fail('unreadable', `cannot read token file ${tokenPath} (${tokenBytes})`, ExitCode.failure);
  let keyBytes: Buffer | undefined;
  if (opts.key !== undefined) {
    const keyPath = path.resolve(io.cwd, opts.key);
    const read = await readInput(keyPath);
    if (typeof read === 'string') return fail('unreadable', `cannot read key file ${keyPath} (${read})`, ExitCode.failure);
    keyBytes = read;
  }

  let opened: OpenedServerToken;
  try {
    opened = openServerToken(tokenBytes, keyBytes);
  } catch (err) {
    if (!isTokenError(err)) throw err;
    if (err.code === 'key_required') {
      return fail(err.code, `${tokenPath}: ${err.message}; pass --key FILE`, ExitCode.usage);
    }
    const aboutKey = err.code === 'invalid_key' || (err instanceof WrongFileTypeError && err.role === 'key');
    const where = aboutKey && opts.key !== undefined ? path.resolve(io.cwd, opts.key) : tokenPath;
    return fail(err.code, `${where}: ${err.message}`, ExitCode.failure);
  }

  const now = io.now?.() ?? new Date();
  const summary = summarizeToken(opened.token, now);
  const status = summary.expired ? 'expired' : summary.daysLeft < EXPIRY_WARNING_DAYS ? 'expiring' : 'valid';
  const found = await findAccount(io, opened, opts, now);
  const report: InspectJson = {
    file: tokenPath,
    format: opened.format,
    encrypted: opened.encrypted,
    cipher: opened.cipher ?? null,
    recipient: opened.recipient ?? null,
    ...summary,
    status,
    account: found.account,
    accountNote: found.note,
  };
  io.stdout(opts.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderText(report, now));
  if (summary.expired) {
    io.stderr(
      `depctl: the token expired on ${summary.expiresAt}; download a new token for this MDM server in Apple Business Manager\n`,
    );
    return ExitCode.failure;
  }
  if (found.failed) {
    io.stderr(`depctl: ${found.note ?? 'GET /account failed'}\n`);
    return ExitCode.failure;
  }
  return ExitCode.ok;
}

/**
 * The token's MDM server: from Apple when `--dep-url` is given (the only network call inspect makes), else
 * from the state store when one is named (never created here), else unknown.
 */
async function findAccount(
  io: CliIo,
  opened: OpenedServerToken,
  opts: { depUrl?: string; stateUrl?: string },
  now: Date,
): Promise<{ account: InspectAccount | null; note: string | null; failed: boolean }> {
  if (opts.depUrl !== undefined) {
    // One attempt: an inspection should answer now, not after the pass's retry budget.
    const client = createDepClient({ baseUrl: opts.depUrl, token: opened.token, retry: { maxAttempts: 1 }, timeoutMs: 30_000 });
    try {
      const identity = identityFromAccount(await client.account(io.signal ? { signal: io.signal } : {}));
      return { account: { source: 'apple', server: null, ...identity, checkedAt: now.toISOString() }, note: null, failed: false };
    } catch (err) {
      return { account: null, note: `GET /account at ${opts.depUrl} failed: ${(err as Error).message}`, failed: true };
    } finally {
      await client.close();
    }
  }
  if (opts.stateUrl === undefined) return { account: null, note: 'offline: pass --dep-url URL to ask Apple, or --state URL for what depctl recorded', failed: false };
  const path = sqlitePath(opts.stateUrl, io.cwd);
  if (path !== undefined && !existsSync(path)) return { account: null, note: `no state store at ${path}`, failed: false };
  const store = await openStore(path !== undefined ? `sqlite:${path}` : opts.stateUrl);
  try {
    const fingerprint = tokenFingerprint(opened.token);
    const record = (await store.listServers()).find((r) => r.tokenFingerprint === fingerprint);
    const identity = identityOfRecord(record);
    if (!record) return { account: null, note: 'the state store holds no MdmServer with this token', failed: false };
    if (!identity) return { account: null, note: `MdmServer "${record.name}" uses this token, but Apple has not been asked yet (run depctl plan)`, failed: false };
    return { account: { source: 'store', server: record.name, ...identity }, note: null, failed: false };
  } finally {
    await store.close();
  }
}

/** The file of a `sqlite:` state URL, resolved like `openState` does; undefined for other stores. */
function sqlitePath(url: string, cwd: string): string | undefined {
  if (!url.startsWith('sqlite:') || url.startsWith('sqlite::memory:')) return undefined;
  return path.resolve(cwd, url.slice('sqlite:'.length).replace(/^\/\//, ''));
}

const FORMAT_NAMES: Record<OpenedServerToken['format'], string> = {
  smime: 'S/MIME .p7m',
  'pkcs7-der': 'PKCS#7 (DER/BER)',
  'pkcs7-pem': 'PKCS#7 (PEM)',
  plaintext: 'decrypted token (not encrypted)',
};

function renderText(r: InspectJson, now: Date): string {
  // daysLeft rounds down, so count the days since expiry separately: 3 days and 1 hour ago is "3".
  const since = Math.floor((now.getTime() - Date.parse(r.expiresAt)) / 86_400_000);
  const days = !r.expired ? `${r.daysLeft} day(s) left` : since === 0 ? 'expired today' : `expired ${since} day(s) ago`;
  const status = { valid: 'valid', expiring: `valid, expires within ${EXPIRY_WARNING_DAYS} days: renew it soon`, expired: 'EXPIRED' }[r.status];
  const lines = [
    ['Token file', r.file],
    ['Format', FORMAT_NAMES[r.format] + (r.cipher ? `, ${r.cipher}` : '')],
    ...(r.recipient ? [['Encrypted to', r.recipient]] : []),
    ['Consumer key', r.consumerKey],
    ['Fingerprint', r.fingerprint],
    ...(r.issuedAt ? [['Issued', r.issuedAt]] : []),
    ['Expires', `${r.expiresAt} (${days})`],
    ['Status', status],
    ...accountLines(r),
  ];
  return lines.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n') + '\n';
}

/** The token's MDM server: Apple's answer, depctl's record, or why it is unknown. */
function accountLines(r: InspectJson): string[][] {
  const a = r.account;
  if (a === null) return [['Apple server', `unknown (${r.accountNote ?? 'offline'})`]];
  const org = [a.orgType, a.orgId === null ? null : `id ${a.orgId}`].filter((x) => x !== null).join(', ');
  const from = a.source === 'apple' ? `GET /account, ${a.checkedAt ?? ''}` : `recorded for MdmServer "${a.server ?? ''}", checked ${a.checkedAt ?? 'at an unknown time'}`;
  return [
    ['Apple server', `"${a.serverName}" (uuid ${a.serverUuid})`],
    ['Organisation', `${a.orgName}${org ? ` (${org})` : ''}`],
    ['Known from', from],
  ];
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

/** Reads a file, or returns the errno code as a string (messages never include file content). */
async function readInput(file: string): Promise<Buffer | string> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return READ_ERRORS[code] ?? code;
  }
}
