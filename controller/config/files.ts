import { lstat, open, readdir, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ProblemSink } from './problems.js';

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

/**
 * Walks the config directory: collects YAML files and reports secrets that sit inside it (a `.p7m`
 * server token, a private key, a decrypted token JSON). Hidden directories (`.git`, `.github`, …) and
 * `node_modules` are skipped; symbolic links are followed only when they stay inside the root.
 */
export async function walkConfigDir(root: string, sink: ProblemSink): Promise<ConfigFiles> {
  const realRoot = await realpath(root);
  const yaml: string[] = [];
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
      }
      if (isDir) {
        await visit(abs);
      } else if (isFile) {
        if (/\.ya?ml$/i.test(entry.name)) yaml.push(rel);
        await scanForSecret(abs, rel, sink);
      }
    }
  };
  await visit(root);
  return { yaml };
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

/** Reports a secret file inside the config repository; reads at most the first 64 KiB. */
async function scanForSecret(abs: string, rel: string, sink: ProblemSink): Promise<void> {
  const advice = 'secrets never belong in the config repository: move it to the secrets directory (--secrets-dir) and reference it with { file: ... } or { env: ... }';
  if (/\.(p7m|p12|pfx)$/i.test(rel)) {
    sink.error('secret-in-repo', { file: rel, line: 1, column: 1 }, `this looks like a server token or key bundle; ${advice}`);
    return;
  }
  const fh = await open(abs, 'r').catch(() => undefined);
  if (!fh) return;
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
        sink.error('secret-in-repo', { file: rel, line, column }, `file contains ${what}; ${advice}`);
        return;
      }
    }
  } finally {
    await fh.close();
  }
}
