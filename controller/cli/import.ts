import type { TrustPolicy } from '../config/trust.js';
import { cp, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { examples } from './help.js';
import type { Register } from './program.js';
import { ExitCode, UsageError, type CliIo } from './io.js';
import { connectServers, loadValidConfig, openState, runtimeSettings } from './runtime.js';
import { renderText } from './views/problems.js';
import { loadConfig, type LoadResult } from '../config/load.js';
import { readSchemaFiles } from '../config/schemas.js';
import { skipKeyCatalogue } from '../config/skip-keys.js';
import { isInside } from '../config/files.js';
import type { DepConfig } from '../config/types.js';
import { IMPORT_MARKER, profileKeysFromSchema, type Adoption } from '../reconcile/adopt.js';
import { configClaims, recordAdoption, selectAdoption } from '../reconcile/adopt-records.js';
import type { AdoptStore } from '../reconcile/ports.js';
import { readLiveState, type LiveState } from '../reconcile/live-state.js';
import { observe } from '../reconcile/observe.js';
import { createProgress, progressWanted } from './progress.js';
import { checkServerIdentity } from '../reconcile/identity.js';
import { recoverDefines } from '../reconcile/recover.js';
import { describeServerError } from '../reconcile/planner.js';

/** Options of `depctl import`. */
export interface ImportOptions {
  server: string;
  out?: string;
  csvThreshold: number;
  force: boolean;
  refresh: boolean;
}

/**
 * Registers `depctl import --server NAME [DIR]`: writes EnrollmentProfile and Assignment documents that
 * describe the profiles the server's devices carry, and records those profiles as already defined in the
 * state store, so that `depctl plan` shows no changes once the files are committed (adoption of a fleet).
 */
export const registerImport: Register = (program, io, setExit) => {
  program
    .command('import')
    .description("write YAML describing one server's live profiles and assignments, and adopt them (plan then shows no changes)")
    .argument('[dir]', 'config directory (must hold the MdmServer)', '.')
    .requiredOption('--server <name>', 'the MdmServer to import')
    .option('--out <subdir>', 'output directory, relative to DIR (default imported/NAME)')
    .option('--csv-threshold <n>', 'assignments with more serials than this go to a CSV file', parseCount, 500)
    .option('--force', 'replace the files of a previous import in the output directory', false)
    .option('--refresh', 'do a full fetch instead of a sync', false)
    .addHelpText('after', examples([
      ['depctl import --server lyon config/', "write config/imported/lyon/ from lyon's live profiles and assignments"],
      ['depctl import --server lyon --csv-threshold 100 config/', 'put assignments of more than 100 serials in CSV files'],
      ['depctl import --server lyon --force config/', 'replace an earlier import'],
    ]))
    .action(async (dir: string, opts: ImportOptions, cmd: Command) => {
      setExit(await runImport(dir, opts, cmd, io));
    });
};

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

const posix = (p: string): string => p.split(sep).join('/');

/** Runs the import; returns the exit code. */
export async function runImport(dir: string, opts: ImportOptions, cmd: Command, io: CliIo): Promise<number> {
  const settings = runtimeSettings(cmd, io);
  const config = await loadValidConfig(dir, io, settings);
  const server = config.servers.find((s) => s.name === opts.server);
  if (!server) throw new UsageError(`MdmServer "${opts.server}" is not in ${dir} (servers: ${config.servers.map((s) => s.name).join(', ') || 'none'})`);
  const outAbs = resolve(config.dir, opts.out ?? join('imported', server.name));
  if (!isInside(config.dir, outAbs) || outAbs === config.dir) throw new UsageError('--out must name a directory inside the config directory');
  const outRel = posix(relative(config.dir, outAbs));
  // The config loader skips hidden directories and node_modules: files there would never be read back.
  if (outRel.split('/').some((seg) => seg.startsWith('.') || seg === 'node_modules')) throw new UsageError('--out must not be (or be inside) a hidden directory or node_modules: depctl does not read config files there');
  const previous = opts.force ? await previousImport(config.dir, outAbs) : new Set<string>();
  const base: DepConfig = {
    ...config,
    profiles: config.profiles.filter((p) => !previous.has(p.source.file)),
    assignments: config.assignments.filter((a) => !previous.has(a.source.file)),
  };
  const now = io.now ?? (() => new Date());
  const signal = io.signal ? { signal: io.signal } : {};
  const store = await openState(settings, io);
  try {
    const conns = await connectServers({ ...config, servers: [server] }, settings, io, store, { now });
    try {
      const handle = conns.handles[0];
      if (!handle?.client) {
        io.stderr(`depctl: ${handle?.problem?.message ?? 'no DEP client'}\n`);
        return ExitCode.failure;
      }
      // The token must still open the MDM server the store knows, or the import would adopt another server's
      // devices under this name (reconcile/identity.ts).
      const checked = await checkServerIdentity(server.name, handle.client, store, { now, ...signal });
      if (!checked.ok) {
        io.stderr(`depctl: MdmServer "${server.name}": ${checked.problem.message}; nothing was written\n`);
        return ExitCode.failure;
      }
      let live: LiveState;
      // import has no JSON output: progress whenever stderr is a terminal.
      const progress = createProgress(io, progressWanted(io, 'text'));
      try {
        await observe(server.name, handle.client, store, { now, refresh: opts.refresh, pageLimits: checked.pageLimits, ...signal, onProgress: (p) => progress.observe(p) });
        progress.clear();
        await recoverDefines(server.name, handle.client, store, { now, ...signal });
        live = await readLiveState({ server: server.name, profiles: base.profiles }, handle.client, store, signal);
      } catch (err) {
        progress.clear();
        io.stderr(`depctl: MdmServer "${server.name}": ${describeServerError(err)}; nothing was written\n`);
        return ExitCode.failure;
      }
      const code = await adoptAndWrite({ io, dir, config, base, server: server.name, outAbs, outRel, previous, opts, store, live, now, trust: settings.trust });
      if (code !== ExitCode.ok) return code;
      // Device ownership (issue 15): the serials Apple Business Manager has on this server, declared as they are.
      const { importOwnership } = await import('./import-ownership.js');
      const own = await importOwnership({ config, server, outAbs, outRel, force: opts.force, settings, io, now, trust: settings.trust });
      if (own.lines.length > 0) io.stdout(`${own.lines.join('\n')}\n`);
      return own.ok ? code : ExitCode.failure;
    } finally {
      await conns.close();
    }
  } finally {
    await store.close();
  }
}

/** Everything adoptAndWrite works with. */
interface AdoptContext {
  io: CliIo;
  dir: string;
  config: DepConfig;
  base: DepConfig;
  server: string;
  outAbs: string;
  outRel: string;
  previous: ReadonlySet<string>;
  opts: ImportOptions;
  store: AdoptStore;
  live: LiveState;
  now: () => Date;
  /** The operator's policy for references and DEP hosts, applied to the scratch copy too. */
  trust: TrustPolicy | undefined;
}

/**
 * Selects what can be adopted (reconcile/adopt-records.ts drops profiles the store forbids and those whose
 * own file does not validate, checking each round with loadConfig together with the existing config in a
 * scratch copy), and only then writes the files and records the adoption in the store.
 */
async function adoptAndWrite(c: AdoptContext): Promise<number> {
  const schemaFiles = readSchemaFiles();
  const catalogue = skipKeyCatalogue(schemaFiles);
  // The scratch copy is made only once there is something to validate.
  let staging: Staging | undefined;
  try {
    const selection = await selectAdoption({
      base: {
        server: c.server,
        ...configClaims(c.base),
        csvThreshold: c.opts.csvThreshold,
        profileKeys: profileKeysFromSchema(schemaFiles['enrollment-profile.schema.json'] ?? {}),
        // Removed SkipKeys still act on older OS versions and validate only warns about them: keep them, so the
        // imported content hashes like the profile Apple holds.
        skipKeys: new Set([...catalogue.current, ...catalogue.deprecated, ...catalogue.removed]),
        importedAt: c.now(),
      },
      foreign: c.live.foreign,
      known: await c.store.listProfiles(c.server),
      outRel: c.outRel,
      validate: async (files) => {
        staging ??= await Staging.create(c.config.dir, c.outRel, c.previous);
        return staging.load(files, c.now(), c.trust);
      },
    });
    if (selection.kind === 'invalid') {
      c.io.stderr(renderText(c.dir, { ...selection.loaded, problems: selection.errors }, false));
      c.io.stderr('depctl: the imported documents do not validate with the existing configuration; nothing was written\n');
      return ExitCode.failure;
    }
    const { adoption, dropped } = selection;
    if (selection.kind === 'nothing') return report(c, adoption, dropped, [], false);
    const existing = c.opts.force ? [] : await existingTargets(c.outAbs, adoption);
    if (existing.length > 0) {
      c.io.stderr(`depctl: refusing to overwrite ${existing.map((f) => `${c.outRel}/${f}`).join(', ')}; pass --force to replace a previous import\n`);
      return ExitCode.failure;
    }
    for (const p of selection.loaded.problems) {
      if (p.file.startsWith(`${c.outRel}/`)) c.io.stderr(`${join(c.dir, p.file)}:${p.line}:${p.column}: ${p.severity}: ${p.message} [${p.code}]\n`);
    }
    await writeFiles(c.outAbs, adoption, c.previous, c.config.dir, c.opts.force);
    const adopted = await recordAdoption(c.store, { server: c.server, adopted: adoption.profiles, loaded: selection.loaded.config?.profiles ?? [], now: c.now });
    return report(c, adoption, dropped, adopted, true);
  } finally {
    await staging?.close();
  }
}

/** The files of a previous import in the output directory (YAML files starting with the marker, and their CSVs), relative to the config directory. */
async function previousImport(root: string, outAbs: string): Promise<Set<string>> {
  const found = new Set<string>();
  const entries = await readdir(outAbs).catch(() => [] as string[]);
  for (const name of entries) {
    if (!/\.ya?ml$/.test(name)) continue;
    const text = await readFile(join(outAbs, name), 'utf8').catch(() => '');
    if (!text.startsWith(IMPORT_MARKER)) continue;
    found.add(posix(relative(root, join(outAbs, name))));
    const csv = `${name.replace(/\.ya?ml$/, '')}.csv`;
    if (entries.includes(csv)) found.add(posix(relative(root, join(outAbs, csv))));
  }
  return found;
}

/** Files the import would write that already exist. */
async function existingTargets(outAbs: string, adoption: Adoption): Promise<string[]> {
  const out: string[] = [];
  for (const rel of adoption.files.keys()) if (await lstat(join(outAbs, rel)).catch(() => undefined)) out.push(rel);
  return out.sort();
}

/** Writes the files (CSVs before the YAML that names them); with --force, a previous import's other files go. */
async function writeFiles(outAbs: string, adoption: Adoption, previous: ReadonlySet<string>, root: string, force: boolean): Promise<void> {
  await mkdir(outAbs, { recursive: true });
  const targets = new Set([...adoption.files.keys()].map((rel) => posix(relative(root, join(outAbs, rel)))));
  for (const old of previous) if (!targets.has(old)) await rm(join(root, old), { force: true });
  const ordered = [...adoption.files].sort(([a], [b]) => Number(a.endsWith('.yaml')) - Number(b.endsWith('.yaml')));
  for (const [rel, content] of ordered) await writeFile(join(outAbs, rel), content, { flag: force ? 'w' : 'wx' });
}

/**
 * A scratch copy of the config directory (without hidden directories, node_modules and a previous import's
 * files) into which the new files are written and loaded: the real directory is written only once the
 * result is known to validate.
 */
class Staging {
  private written: string[] = [];

  private constructor(private readonly tmp: string, private readonly root: string, private readonly outRel: string) {}

  static async create(configDir: string, outRel: string, previous: ReadonlySet<string>): Promise<Staging> {
    const tmp = await mkdtemp(join(tmpdir(), 'depctl-import-'));
    const root = join(tmp, 'config');
    await cp(configDir, root, {
      recursive: true,
      verbatimSymlinks: true,
      filter: async (src) => {
        const rel = posix(relative(configDir, src));
        if (rel === '') return true;
        if (previous.has(rel)) return false;
        const name = basename(src);
        if (name === 'node_modules') return false;
        return !(name.startsWith('.') && (await lstat(src)).isDirectory());
      },
    });
    return new Staging(tmp, root, outRel);
  }

  /** Replaces the files written before with `files` and loads the whole scratch config. */
  async load(files: ReadonlyMap<string, string>, now: Date, trust: TrustPolicy | undefined): Promise<LoadResult> {
    for (const f of this.written) await rm(f, { force: true });
    this.written = [];
    const dir = join(this.root, this.outRel);
    await mkdir(dir, { recursive: true });
    for (const [rel, content] of files) {
      const path = join(dir, rel);
      await writeFile(path, content);
      this.written.push(path);
    }
    return loadConfig(this.root, { now, ...(trust ? { trust } : {}) });
  }

  close(): Promise<void> {
    return rm(this.tmp, { recursive: true, force: true });
  }
}

/** Prints the summary: profiles, serials, files, what was left out, next steps. */
function report(c: AdoptContext, adoption: Adoption, dropped: ReadonlyMap<string, string>, adopted: readonly string[], wrote: boolean): number {
  const { io, live } = c;
  const lines: string[] = [];
  if (!wrote) {
    lines.push(`Nothing to import from MdmServer "${c.server}": ${live.devices} device(s), none carrying a profile depctl could adopt.`);
  } else {
    lines.push(`Imported ${adoption.profiles.length} profile(s) from MdmServer "${c.server}" (${live.devices} device(s)) into ${join(c.dir, c.outRel)}/:`);
    const width = Math.max(...adoption.profiles.map((p) => p.name.length));
    for (const p of adoption.profiles) {
      const renamed = p.wantedName ? ` (name "${p.wantedName}" was taken)` : '';
      lines.push(`  ${p.name.padEnd(width)}  ${String(p.serials.length).padStart(7)} serial(s)  UUID ${p.uuid}  "${String(p.body['profile_name'])}"${renamed}`);
      for (const n of p.notes) lines.push(`      left out of Apple's answer: ${n}`);
    }
    lines.push('Files written:');
    for (const p of adoption.profiles) for (const f of [p.yamlFile, p.csvFile]) if (f) lines.push(`  ${join(c.dir, c.outRel, f)}`);
    lines.push(`Recorded ${adopted.length} profile(s) in the state store as already defined with their Apple UUIDs.`);
  }
  const left: string[] = [];
  for (const l of adoption.leftOut) left.push(`${l.serials.length} serial(s) carrying ${l.uuid} are already listed by assignment "${l.assignment}" and keep following it`);
  for (const g of live.gone) left.push(`profile ${g.uuid} is no longer known to Apple: its ${g.devices} device(s) were not imported`);
  for (const [uuid, why] of dropped) left.push(`profile ${uuid} was not imported: ${why}`);
  if (live.managed > 0) left.push(`${live.managed} device(s) carry profiles depctl already manages (this content or an earlier one)`);
  if (live.withoutProfile > 0) left.push(`${live.withoutProfile} device(s) carry no profile`);
  if (live.oddSerials.length > 0) left.push(`${live.oddSerials.length} device(s) have serial numbers a config cannot list: ${live.oddSerials.slice(0, 5).join(', ')}`);
  if (left.length > 0) lines.push('Left out:', ...left.map((l) => `  ${l}`));
  const server = c.config.servers.find((s) => s.name === c.server);
  if (server && server.unassignedDevices !== 'ignore' && live.withoutProfile > 0) {
    lines.push(`Note: MdmServer "${c.server}" has unassignedDevices: ${server.unassignedDevices}, so plan will still change the ${live.withoutProfile} device(s) without a profile.`);
  }
  if (wrote) {
    lines.push(
      'Next steps:',
      `  depctl validate ${c.dir}`,
      `  git -C ${c.dir} add ${c.outRel} && git -C ${c.dir} commit -m "Import MdmServer ${c.server}"`,
      `  depctl plan ${c.dir} --detailed-exitcode    # should show no changes (uses the same --state)`,
    );
  }
  io.stdout(`${lines.join('\n')}\n`);
  return ExitCode.ok;
}
