import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { WrongFileTypeError, isTokenError, openServerToken, summarizeToken, type OpenedServerToken, type TokenSummary } from '../tokens/index.js';
import { type CliIo, ExitCode } from './io.js';
import type { Register } from './program.js';

/** Days before expiry from which `token inspect` says "expires soon" (the first drift threshold). */
const EXPIRY_WARNING_DAYS = 30;

type Format = 'text' | 'json';

/** Registers `depctl token inspect FILE [--key KEY] [--format text|json]`. */
export const registerToken: Register = (program, io, setExit) => {
  const token = program.command('token').description('DEP server tokens (.p7m from Apple Business Manager)');
  const inspect = token
    .command('inspect')
    .description('decrypt a server token and show its server identity and expiry (never its secrets)')
    .argument('<file>', "the token: Apple's .p7m, PKCS#7, or the decrypted token JSON")
    .option('--key <file>', 'PEM private key whose certificate was uploaded to Apple (needed for encrypted tokens)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (file: string, opts: { key?: string; format: Format }) => {
      setExit(await inspectToken(io, file, opts));
    });
  // program.ts routes output and exits of top-level commands only; nested ones need the same.
  for (const cmd of [token, inspect] as Command[]) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  }
};

/** Machine-readable result of `token inspect --format json`. */
interface InspectJson extends TokenSummary {
  file: string;
  format: OpenedServerToken['format'];
  encrypted: boolean;
  cipher: string | null;
  recipient: string | null;
  status: 'valid' | 'expiring' | 'expired';
}

async function inspectToken(io: CliIo, file: string, opts: { key?: string; format: Format }): Promise<number> {
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

  const now = new Date();
  const summary = summarizeToken(opened.token, now);
  const status = summary.expired ? 'expired' : summary.daysLeft < EXPIRY_WARNING_DAYS ? 'expiring' : 'valid';
  const report: InspectJson = {
    file: tokenPath,
    format: opened.format,
    encrypted: opened.encrypted,
    cipher: opened.cipher ?? null,
    recipient: opened.recipient ?? null,
    ...summary,
    status,
  };
  io.stdout(opts.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderText(report, now));
  if (summary.expired) {
    io.stderr(
      `depctl: the token expired on ${summary.expiresAt}; download a new token for this MDM server in Apple Business Manager\n`,
    );
    return ExitCode.failure;
  }
  return ExitCode.ok;
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
  ];
  return lines.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n') + '\n';
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
