import { lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_COMMON_NAME, DEFAULT_VALIDITY_DAYS, generateKeyPair } from '../tokens/index.js';
import { type CliIo, ExitCode } from './io.js';
import { examples } from './help.js';
import type { Register } from './program.js';

/** File names written by `keys generate` (fixed, so docs and examples can refer to them). */
export const KEY_FILE = 'depctl-key.pem';
export const CERT_FILE = 'depctl-cert.pem';

const KEYS_EXAMPLES = examples([
  ['depctl keys generate --out secrets/', 'a key and the certificate to upload to Apple Business Manager'],
  ['depctl keys generate --out secrets/lyon --cn "depctl lyon" --days 730', 'one key per MDM server, valid two years'],
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
  // program.ts routes output and exits of top-level commands only; nested ones need the same.
  for (const cmd of [keys, generate] as Command[]) {
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
