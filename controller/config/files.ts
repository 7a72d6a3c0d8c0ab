import { lstat, open, readdir, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ProblemSink, SourceLoc } from './problems.js';
import { gitPathStatus } from './git-paths.js';

/** The files of a config directory that matter to depctl. */
export interface ConfigFiles {
  /** YAML files (`*.yaml`, `*.yml`), as paths relative to the root with `/` separators, sorted. */
  yaml: string[];
}

/** Directories never walked: VCS metadata, CI definitions, dependencies. */
const SKIPPED_DIRS = new Set(['node_modules']);

/** Converts a relative path to `/` separators. */
export function posix(rel: string): string {
  return sep === '/' ? rel : rel.split(sep).join('/');
}

/** Options of walkConfigDir. */
export interface WalkOptions {
  /**
   * The secrets directory (`--secrets-dir`), absolute. When it lies inside the config directory its files
   * are neither config nor "secrets in the repository" (unless git tracks them).
   */
  secretsDir?: string;
}

/** A file that looks like a secret, before git is asked about it. */
interface SecretFinding {
  rel: string;
  loc: SourceLoc;
  what: string;
  inSecretsDir: boolean;
}

/**
 * Walks the config directory: collects YAML files and reports secrets that sit inside it (a `.p7m`
 * server token, a private key, a decrypted token JSON). Hidden directories (`.git`, `.github`, …) and
 * `node_modules` are skipped; symbolic links are followed only when they stay inside the root. A secret
 * is not reported when it is inside the secrets directory or ignored by git (issue 9: the default
 * `--secrets-dir ./secrets` inside a config directory `.`), but always when git tracks it.
 */
export async function walkConfigDir(root: string, sink: ProblemSink, opts: WalkOptions = {}): Promise<ConfigFiles> {
  const realRoot = await realpath(root);
  const secretsDir = await secretsDirBelow(realRoot, opts.secretsDir);
  const yaml: string[] = [];
  const findings: SecretFinding[] = [];
  const visit = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const abs = join(dir, entry.name);
      const rel = posix(relative(root, abs));
      if (entry.name.startsWith('.') && entry.isDirectory()) continue;
      if (SKIPPED_DIRS.has(entry.name)) continue;
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      let real: string | undefined;
      if (entry.isSymbolicLink()) {
        const target = await realpath(abs).catch(() => undefined);
        if (target === undefined) continue;
        if (!isInside(realRoot, target)) {
          if (/\.ya?ml$/i.test(entry.name)) sink.error('path-escape', { file: rel, line: 1, column: 1 }, 'symbolic link points outside the config directory');
          continue;
        }
        const st = await lstat(target);
        // Linked directories are not followed: they could form cycles, and their files are reachable directly.
        isDir = false;
        isFile = st.isFile();
        real = target;
      }
      const inSecretsDir = secretsDir !== undefined && isInside(secretsDir, real ?? join(realRoot, relative(root, abs)));
      if (isDir) {
        await visit(abs);
      } else if (isFile) {
        // The secrets directory holds no config, even when it sits inside the config directory.
        if (/\.ya?ml$/i.test(entry.name) && !inSecretsDir) yaml.push(rel);
        const finding = await scanForSecret(abs, rel);
        if (finding) findings.push({ ...finding, inSecretsDir });
      }
    }
  };
  await visit(root);
  await reportSecrets(root, findings, sink);
  return { yaml };
}

/** The real path of the secrets directory when it is strictly below the config directory. */
async function secretsDirBelow(realRoot: string, secretsDir: string | undefined): Promise<string | undefined> {
  if (secretsDir === undefined) return undefined;
  const real = await realpath(secretsDir).catch(() => undefined);
  // A secrets directory that is the config directory itself (or above it) would excuse every file.
  if (real === undefined || real === realRoot || !isInside(realRoot, real)) return undefined;
  return real;
}

const ADVICE = 'secrets never belong in the config repository: move it to the secrets directory (--secrets-dir) and reference it with { file: ... } or { env: ... }';

/**
 * Reports the secrets found, after asking git (only when there is something to ask): a tracked file is in
 * the repository wherever it is; an untracked one is not when git ignores it or it is in the secrets
 * directory. Outside a git repository only the secrets directory excuses a file.
 */
async function reportSecrets(root: string, findings: readonly SecretFinding[], sink: ProblemSink): Promise<void> {
  if (findings.length === 0) return;
  const git = await gitPathStatus(root, findings.map((f) => f.rel));
  for (const f of findings) {
    if (git?.tracked.has(f.rel)) {
      sink.error('secret-in-repo', f.loc, `${f.what}, and git tracks it: remove it from the repository (git rm --cached; rotate it if it was pushed); ${ADVICE}`);
    } else if (!f.inSecretsDir && !git?.ignored.has(f.rel)) {
      sink.error('secret-in-repo', f.loc, `${f.what}; ${ADVICE}`);
    }
  }
}

/** True when `child` is `parent` or below it (both real, absolute paths). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[A-Za-z]:/.test(rel));
}

const SECRET_PATTERNS: { re: RegExp; what: string }[] = [
  { re: /-----BEGIN (?:RSA |EC |ENCRYPTED |DSA |OPENSSH )?PRIVATE KEY-----/, what: 'a private key' },
  { re: /Content-Type:\s*application\/(?:x-)?pkcs7-mime/i, what: 'an S/MIME server token (.p7m)' },
  { re: /"consumer_secret"\s*:|"access_secret"\s*:/, what: 'a decrypted DEP server token' },
];

/** Looks for a secret in a file of the config directory; reads at most the first 64 KiB. */
async function scanForSecret(abs: string, rel: string): Promise<Omit<SecretFinding, 'inSecretsDir'> | undefined> {
  if (/\.(p7m|p12|pfx)$/i.test(rel)) {
    return { rel, loc: { file: rel, line: 1, column: 1 }, what: 'this looks like a server token or key bundle' };
  }
  const fh = await open(abs, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead).toString('latin1');
    for (const { re, what } of SECRET_PATTERNS) {
      const m = re.exec(head);
      if (m) {
        const before = head.slice(0, m.index);
        const line = before.split('\n').length;
        const column = m.index - before.lastIndexOf('\n');
        return { rel, loc: { file: rel, line, column }, what: `file contains ${what}` };
      }
    }
    return undefined;
  } finally {
    await fh.close();
  }
}
