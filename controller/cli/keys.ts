import { lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_COMMON_NAME, DEFAULT_VALIDITY_DAYS, generateKeyPair } from '../tokens/index.js';
import { type CliIo, ExitCode } from './io.js';
import { examples } from './help.js';
import type { Register } from './program.js';
import { loadValidConfig, ReportedFailure, runtimeSettings, type RuntimeSettings } from './runtime.js';
import { stagedCertPath, stagedKeyPath } from '../tokens/key-paths.js';

/** File names written by `keys generate` (fixed, so docs and examples can refer to them). */
export const KEY_FILE = 'depctl-key.pem';
export const CERT_FILE = 'depctl-cert.pem';

const KEYS_EXAMPLES = examples([
  ['depctl keys generate --out secrets/', 'a key and the certificate to upload to Apple Business Manager'],
  ['depctl keys generate --out secrets/lyon --cn "depctl lyon" --days 730', 'one key per MDM server, valid two years'],
  ['depctl keys rotate --server paris --config config', 'stage a new key for the yearly token renewal; the current token keeps working'],
]);

/** Registers `depctl keys generate --out DIR [--cn NAME] [--days N]`. */
export const registerKeys: Register = (program, io, setExit) => {
  const keys = program.command('keys').description('key pair and certificate for DEP server tokens').addHelpText('after', KEYS_EXAMPLES);
  const generate = keys
    .command('generate')
    .description('generate an RSA key and a self-signed certificate to upload to Apple Business Manager')
    .requiredOption('--out <dir>', 'directory for depctl-key.pem and depctl-cert.pem (created 0700 if missing)')
    .option('--cn <name>', 'certificate common name', DEFAULT_COMMON_NAME)
    .option('--days <n>', 'certificate validity in days', parseDays, DEFAULT_VALIDITY_DAYS)
    .addHelpText('after', KEYS_EXAMPLES)
    .action(async (opts: { out: string; cn: string; days: number }) => {
      setExit(await generateKeys(io, opts));
    });
  const rotate = keys
    .command('rotate')
    .description('stage a new key pair next to the current key of an MdmServer, for a token renewal without downtime')
    .requiredOption('--server <name>', 'the MdmServer whose key is rotated')
    .option('--config <dir>', 'configuration directory', '.')
    .option('--out <dir>', 'write the staged pair here instead of next to the key (a read-only Secret mount: add the files to the Secret)')
    .option('--cn <name>', 'certificate common name (default "depctl <server>")')
    .option('--days <n>', 'certificate validity in days', parseDays, DEFAULT_VALIDITY_DAYS)
    .action(async (opts: RotateOptions, cmd: Command) => {
      setExit(await rotateKeys(io, opts, runtimeSettings(cmd, io)));
    });
  // program.ts routes output and exits of top-level commands only; nested ones need the same.
  for (const cmd of [keys, generate, rotate] as Command[]) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  }
};

function parseDays(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 3650) throw new InvalidArgumentError('expected a whole number of days from 1 to 3650');
  return n;
}

async function generateKeys(io: CliIo, opts: { out: string; cn: string; days: number }): Promise<number> {
  if (opts.cn.length === 0 || opts.cn.length > 64) {
    io.stderr('depctl: --cn must be 1 to 64 characters\n');
    return ExitCode.usage;
  }
  const dir = path.resolve(io.cwd, opts.out);
  const keyPath = path.join(dir, KEY_FILE);
  const certPath = path.join(dir, CERT_FILE);
  // Check both before writing either, so a refusal never leaves a half-written pair behind.
  for (const file of [keyPath, certPath]) {
    if (await exists(file)) {
      io.stderr(`depctl: refusing to overwrite ${file}; move it away or choose another --out directory\n`);
      return ExitCode.failure;
    }
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (((await stat(dir)).mode & 0o077) !== 0) {
      // An existing directory keeps its mode; the key file itself is still created 0600.
      io.stderr(`depctl: warning: ${dir} is accessible to other users; consider chmod 700\n`);
    }
    const pair = generateKeyPair({ commonName: opts.cn, validityDays: opts.days });
    // 'wx' fails if the file appeared meanwhile: we never replace a key that may be in use.
    await writeFile(keyPath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(certPath, pair.certificatePem, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    io.stderr(`depctl: cannot write the key pair in ${dir} (${code})\n`);
    return ExitCode.failure;
  }
  io.stdout(
    [
      `Wrote ${keyPath} (private key, mode 0600: keep it secret, it decrypts your server tokens)`,
      `Wrote ${certPath} (certificate CN=${opts.cn}, valid ${opts.days} days)`,
      '',
      'Next steps:',
      '  1. In Apple Business Manager (or Apple School Manager), open your MDM server (or add one)',
      `     and choose "Upload MDM server public key"; upload ${CERT_FILE}.`,
      '  2. Download the server token for that MDM server (a file named like <Server>_Token_<date>_smime.p7m).',
      `  3. Check it: depctl token inspect <token.p7m> --key ${path.relative(io.cwd, keyPath) || KEY_FILE}`,
      '  4. Put the token and the key in your secrets directory and name them in the MdmServer spec',
      '     (spec.token.file and spec.privateKey.file). Renew the token in the portal every year.',
      '',
    ].join('\n'),
  );
  return ExitCode.ok;
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

interface RotateOptions {
  server: string;
  config: string;
  out?: string;
  cn?: string;
  days: number;
}

/**
 * `keys rotate`: writes `<key>.next.pem` and `<key>.next.cert.pem` beside the server's current key (or in
 * `--out`), never touching the current key or token, and prints what to upload where. The controller finds the
 * staged key by that name (tokens/key-paths.ts) and switches once a renewed token opens with it.
 */
async function rotateKeys(io: CliIo, opts: RotateOptions, settings: RuntimeSettings): Promise<number> {
  let config;
  try {
    config = await loadValidConfig(opts.config, io, settings);
  } catch (err) {
    if (err instanceof ReportedFailure) return ExitCode.failure;
    throw err;
  }
  const server = config.servers.find((s) => s.name === opts.server);
  if (!server) {
    io.stderr(`depctl: no MdmServer named "${opts.server}" in ${opts.config} (known: ${config.servers.map((s) => s.name).join(', ') || 'none'})\n`);
    return ExitCode.usage;
  }
  if (!('file' in server.privateKey) || !('file' in server.token)) {
    io.stderr(`depctl: MdmServer "${server.name}": key rotation needs file references for token and privateKey (an environment variable cannot hold a staged key)\n`);
    return ExitCode.failure;
  }
  const keyPath = path.isAbsolute(server.privateKey.file) ? server.privateKey.file : path.join(settings.secretsDir, server.privateKey.file);
  const tokenPath = path.isAbsolute(server.token.file) ? server.token.file : path.join(settings.secretsDir, server.token.file);
  const besideKey = opts.out === undefined;
  const target = besideKey ? keyPath : path.join(path.resolve(io.cwd, opts.out as string), path.basename(keyPath));
  const stagedKey = stagedKeyPath(target);
  const stagedCert = stagedCertPath(target);
  const cn = opts.cn ?? `depctl ${server.name}`.slice(0, 64);
  if (cn.length === 0 || cn.length > 64) {
    io.stderr('depctl: --cn must be 1 to 64 characters\n');
    return ExitCode.usage;
  }
  for (const file of [stagedKey, stagedCert]) {
    if (await exists(file)) {
      io.stderr(`depctl: a key is already staged at ${file}; finish that renewal (or delete the staged files) before staging another\n`);
      return ExitCode.failure;
    }
  }
  try {
    await mkdir(path.dirname(stagedKey), { recursive: true, mode: 0o700 });
    const pair = generateKeyPair({ commonName: cn, validityDays: opts.days });
    await writeFile(stagedKey, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(stagedCert, pair.certificatePem, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    io.stderr(`depctl: cannot write the staged key pair in ${path.dirname(stagedKey)} (${code}${code === 'EROFS' ? ': read-only; use --out DIR and add the files to your Secret' : ''})\n`);
    return ExitCode.failure;
  }
  io.stdout(
    [
      `Staged a new key for MdmServer "${server.name}"; the current key ${keyPath} keeps decrypting the current token.`,
      `Wrote ${stagedKey} (private key, mode 0600: secret)`,
      `Wrote ${stagedCert} (certificate CN=${cn}, valid ${opts.days} days: upload this one)`,
      '',
      'Next steps:',
      ...(besideKey
        ? []
        : [`  0. Add ${path.basename(stagedKey)} to the Secret that holds ${path.basename(keyPath)}, mounted next to it (same directory).`]),
      '  1. Apple Business Manager (or Apple School Manager): Preferences → your MDM server → Edit;',
      `     under "MDM Server Settings" upload the public key ${path.basename(stagedCert)}, then Save.`,
      '  2. Download Token for that MDM server (a file named like <Server>_Token_<date>_smime.p7m).',
      `  3. Place it at ${tokenPath}, replacing the current token (or update the Secret key that is mounted there).`,
      '  4. depctl checks it on its next pass: the staged key decrypts it, GET /account names the same MDM server,',
      `     then ${path.basename(stagedKey)} becomes ${path.basename(keyPath)} and the old key is kept as`,
      `     ${path.basename(keyPath).replace(/\.pem$/i, '')}.retired-<date>.pem for the grace period. \`depctl status\` shows the steps left.`,
      '',
    ].join('\n'),
  );
  return ExitCode.ok;
}
