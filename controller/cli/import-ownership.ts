/**
 * `depctl import` for device ownership (issue 15): when the imported MdmServer belongs to an Organization, the
 * serials Apple Business/School Manager has on its ABM server (by abmServerName) are written to a serial file
 * (one serial per line, `#` comments) in the import's output directory, and the server's `devices.serialFiles`
 * names it, so the first plan after the import moves none of them. Serials another MdmServer lists explicitly
 * are left out (that listing is a deliberate move), and so are those the server already lists.
 *
 * The MdmServer document is edited in place only where that is safe: a block-style `organization:` line gets
 * a `devices: { serialFiles: [...] }` line after it when the document has no `devices` yet. Otherwise the file
 * is written and the command says which line to add. Everything is validated in a scratch copy first.
 */
import { cp, lstat, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, sep } from 'node:path';
import { buildOwnershipIndex } from '../config/ownership.js';
import { loadConfig } from '../config/load.js';
import type { TrustPolicy } from '../config/trust.js';
import type { DepConfig, MdmServer } from '../config/types.js';
import type { CliIo } from './io.js';
import { connectOrganizations } from './organizations.js';
import type { RuntimeSettings } from './runtime.js';

/** What the ownership part of an import did. */
export interface OwnershipImport {
  /** Lines for the command's report. */
  lines: string[];
  /** False when something went wrong (the report says what); nothing was written then. */
  ok: boolean;
}

const posix = (p: string): string => p.split(sep).join('/');

/** The file name of the ownership serial file in the output directory. */
export const OWNERSHIP_FILE = 'ownership.txt';

/** Imports the current ownership of `server` (a no-op when it names no Organization). */
export async function importOwnership(opts: {
  config: DepConfig;
  server: MdmServer;
  outAbs: string;
  outRel: string;
  force: boolean;
  settings: RuntimeSettings;
  io: CliIo;
  now: () => Date;
  trust: TrustPolicy | undefined;
}): Promise<OwnershipImport> {
  const { config, server, io } = opts;
  const own = server.ownership;
  const org = own ? config.organizations?.find((o) => o.name === own.organization) : undefined;
  if (!own || !org) return { lines: [], ok: true };
  const conns = await connectOrganizations([org], opts.settings, io, { nowMs: () => opts.now().getTime() });
  let serials: string[];
  try {
    const h = conns.handles[0];
    if (!h?.client) return { lines: [`Ownership not imported: ${h?.error ?? 'no Business API client'}`], ok: false };
    const signal = io.signal ? { signal: io.signal } : {};
    let found;
    try {
      found = (await h.client.listMdmServers(signal)).filter((s) => s.serverName === own.abmServerName && s.status !== 'DELETED');
    } catch (err) {
      return { lines: [`Ownership not imported: could not read organization ${org.name}: ${err instanceof Error ? err.message : String(err)}`], ok: false };
    }
    if (found.length !== 1) {
      return { lines: [`Ownership not imported: organization ${org.name} has ${found.length} MDM servers named "${own.abmServerName}" (exactly one is needed)`], ok: found.length === 0 };
    }
    serials = [];
    try {
      for await (const s of h.client.listServerDeviceSerials((found[0] as { id: string }).id, { ...signal, limit: 1000 })) serials.push(s.toUpperCase());
    } catch (err) {
      return { lines: [`Ownership not imported: could not read the serials of "${own.abmServerName}": ${err instanceof Error ? err.message : String(err)}`], ok: false };
    }
  } finally {
    await conns.close();
  }

  // Serials another server lists explicitly stay with that listing; those this server lists are declared already.
  const rules = buildOwnershipIndex(config).organizations.get(org.name);
  const mine = new Set(own.serials);
  const claimedElsewhere: string[] = [];
  const pinned: string[] = [];
  for (const s of [...new Set(serials)].sort()) {
    const explicit = rules?.bySerial.get(s);
    if (explicit && explicit.server !== server.name) claimedElsewhere.push(s);
    else if (!mine.has(s)) pinned.push(s);
  }
  const lines: string[] = [];
  if (claimedElsewhere.length > 0) lines.push(`  ${claimedElsewhere.length} serial(s) on "${own.abmServerName}" are listed by another MdmServer and keep following that listing`);
  if (pinned.length === 0) return { lines: [`Ownership: the ${serials.length} device(s) on "${own.abmServerName}" are already declared; nothing written.`, ...lines], ok: true };

  const fileRel = posix(join(opts.outRel, OWNERSHIP_FILE));
  const fileAbs = join(opts.outAbs, OWNERSHIP_FILE);
  if (!opts.force && (await lstat(fileAbs).catch(() => undefined))) return { lines: [`Ownership not imported: refusing to overwrite ${fileRel}; pass --force to replace a previous import`], ok: false };
  const content = `# depctl import: devices on "${own.abmServerName}" in ${org.scope === 'school' ? 'Apple School Manager' : 'Apple Business Manager'} at ${opts.now().toISOString()}\n${pinned.join('\n')}\n`;

  // The MdmServer's own file: add the serial file to its devices, where a line can be added safely.
  const docRel = own.source.file;
  const docAbs = join(config.dir, docRel);
  const text = await readFile(docAbs, 'utf8');
  const edited = text.includes(fileRel) ? text : insertSerialFile(text, own.source.line, own.source.column, fileRel);
  const files = new Map<string, string>([[fileRel, content]]);
  if (edited !== null && edited !== text) files.set(posix(docRel), edited);

  // Validate in a scratch copy of the config directory before writing anything.
  const tmp = await mkdtemp(join(tmpdir(), 'depctl-import-own-'));
  try {
    const root = join(tmp, 'config');
    await cp(config.dir, root, { recursive: true, verbatimSymlinks: true, filter: async (src) => !(basename(src).startsWith('.') && src !== config.dir && (await lstat(src)).isDirectory()) && basename(src) !== 'node_modules' });
    for (const [rel, body] of files) {
      await mkdir(dirname(join(root, rel)), { recursive: true });
      await writeFile(join(root, rel), body);
    }
    const loaded = await loadConfig(root, { now: opts.now(), ...(opts.trust ? { trust: opts.trust } : {}) });
    if (!loaded.config) {
      const first = loaded.problems.filter((p) => p.severity === 'error').slice(0, 3).map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
      return { lines: [`Ownership not imported: the result would not validate (${first.join('; ')}); nothing was written`], ok: false };
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  for (const [rel, body] of files) {
    await mkdir(dirname(join(config.dir, rel)), { recursive: true });
    await writeFile(join(config.dir, rel), body);
  }
  lines.unshift(`Ownership: ${pinned.length} device(s) on "${own.abmServerName}" written to ${fileRel}.`);
  if (edited === null) {
    lines.push(`  Add it to MdmServer "${server.name}" (${docRel}): spec.devices.serialFiles: [${fileRel}] (the document could not be edited safely); until then plan may move these devices`);
  } else if (edited !== text) {
    lines.push(`  MdmServer "${server.name}" (${docRel}) now lists it in spec.devices.serialFiles.`);
  }
  return { lines, ok: true };
}

/**
 * Adds `devices: { serialFiles: [FILE] }` after the block-style `organization:` line at `line`:`column` (1-based)
 * of the document, or null when that is not safe (a flow mapping, or the document already has `devices`).
 */
export function insertSerialFile(text: string, line: number, column: number, fileRel: string): string | null {
  const lines = text.split('\n');
  const at = line - 1;
  const orgLine = lines[at];
  if (orgLine === undefined) return null;
  // The loader's location may point at the key or at its value: the line itself must be the key's.
  const indent = orgLine.length - orgLine.trimStart().length;
  if (!/^\s*organization:\s*[^{}[\],]+?\s*(#.*)?$/.test(orgLine) || column - 1 < indent) return null;
  // The rest of this document's spec at the same indentation (below and above) must not already have `devices:`.
  for (const step of [1, -1]) {
    for (let i = at + step; i >= 0 && i < lines.length; i += step) {
      const l = lines[i] as string;
      if (/^(---|\.\.\.)\s*$/.test(l)) break;
      if (l.trim() === '' || l.trimStart().startsWith('#')) continue;
      const ind = l.length - l.trimStart().length;
      if (ind < indent) break;
      if (ind === indent && /^devices\s*:/.test(l.trimStart())) return null;
    }
  }
  const quoted = /^[A-Za-z0-9_./-]+$/.test(fileRel) ? fileRel : JSON.stringify(fileRel);
  lines.splice(at + 1, 0, `${' '.repeat(indent)}devices: { serialFiles: [${quoted}] }`);
  return lines.join('\n');
}
