import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { simpleGit } from 'simple-git';
import type { Command } from 'commander';
import { examples } from './help.js';
import type { Register } from './program.js';
import { ExitCode, type CliIo } from './io.js';
import { startSimGroupCommand } from './sim-group.js';
import { startController } from './run.js';
import { enrollHint, quickstartCa } from './quickstart-enroll.js';
import { createLogger } from '../util/logger.js';

/** Where the quickstart keeps its files (state, secrets, the git copy of the config). */
export const QUICKSTART_DIR = '.depctl/quickstart';

/** Options of `depctl quickstart`. */
export interface QuickstartOptions {
  listen: string;
  simListen: string;
  devices: number;
  once: boolean;
  logFormat: 'json' | 'pretty';
  /** Start over: a fresh copy of DIR instead of the repository (and its commits) kept from an earlier quickstart. */
  reset?: boolean;
}

/**
 * `depctl quickstart [DIR]`: everything on embedded defaults. Starts the built-in DEP simulator with the
 * servers of DIR (default `examples`), seeded with the serials the config lists; writes each server's S/MIME
 * token and key under .depctl/quickstart/secrets; copies DIR into a local git repository; and runs the
 * controller (`depctl run`) against it with SQLite state, printing where the status page is. A restart keeps
 * that repository and its commits (the simulator then serves the servers of the repository, edits included);
 * `--reset` starts over from DIR.
 */
export const registerQuickstart: Register = (program, io, setExit) => {
  program
    .command('quickstart')
    .description('try depctl: the built-in DEP simulator + SQLite + a local git copy of DIR, with the controller running')
    .argument('[dir]', 'config directory', 'examples')
    .option('--listen <host:port>', 'controller status page, metrics and webhook (env DEPCTL_LISTEN; default 127.0.0.1:8080)')
    .option('--sim-listen <host:port>', 'DEP simulator', '127.0.0.1:0')
    .option('--devices <n>', 'random devices per server besides the listed serials', (v) => Number(v), 200)
    .option('--once', 'stop after the first reconcile pass', false)
    .option('--log-format <format>', 'json or pretty', 'pretty')
    .option('--reset', `start over: copy DIR again instead of keeping the repository (and its commits) in ${QUICKSTART_DIR}/repo`, false)
    .addHelpText('after', examples([
      ['depctl quickstart', 'the examples, the simulator and the controller; status page on http://127.0.0.1:8080/'],
      ['depctl quickstart my-config --devices 1000', 'your own config, 1,000 random devices per server'],
      ['depctl quickstart --reset', 'start over: discard the repository and its commits from an earlier run'],
    ]))
    .action(async (dir: string, opts: Omit<QuickstartOptions, 'listen'> & { listen?: string }, _cmd: Command) => {
      // DEPCTL_LISTEN as for `run` (the container image sets 0.0.0.0:8080, so a published port reaches it).
      setExit(await quickstart(dir, { ...opts, listen: opts.listen ?? io.env['DEPCTL_LISTEN'] ?? '127.0.0.1:8080' }, io));
    });
};

/** Runs the quickstart; resolves with the exit code when the controller stops. */
export async function quickstart(dir: string, opts: QuickstartOptions, io: CliIo): Promise<number> {
  const base = resolve(io.cwd, QUICKSTART_DIR);
  const secrets = join(base, 'secrets');
  const repo = join(base, 'repo');
  // Each quickstart starts a fresh simulator, so it starts from a fresh state too (a state kept from an
  // earlier simulator would rightly see every device as changed outside depctl).
  // The repository is the user's work (their edits and commits): kept unless --reset.
  for (const f of ['state.db', 'state.db-wal', 'state.db-shm', 'secrets', 'checkout', ...(opts.reset ? ['repo'] : [])]) await rm(join(base, f), { recursive: true, force: true });
  await mkdir(base, { recursive: true });
  if (existsSync(join(repo, '.git'))) {
    const commits = (await simpleGit({ baseDir: repo }).raw(['rev-list', '--count', 'HEAD']).catch(() => '0')).trim();
    io.stdout(`Keeping ${repo} and its ${commits} commit(s) (--reset starts over from ${dir}).\n`);
  } else {
    await copyIntoRepo(resolve(io.cwd, dir), repo, base);
  }
  // The simulator serves the servers of the repository, so a server added there since is served too.
  const sims = await startSimGroupCommand({ cwd: io.cwd, config: repo, out: join(QUICKSTART_DIR, 'secrets'), listen: opts.simListen, devices: opts.devices });
  try {
    io.stdout(`DEP simulator: ${sims.group.url} (${sims.servers.map((s) => `${s.name}: ${s.devices} devices`).join(', ')})\n`);
    // Servers whose config reads secrets from the environment get them from the files just written.
    const env: Record<string, string | undefined> = { ...io.env };
    for (const s of sims.servers) {
      if (!s.files || !s.refs) continue;
      if ('env' in s.refs.token) env[s.refs.token.env] = await readFile(s.files.token, 'utf8');
      if ('env' in s.refs.privateKey && s.files.key) env[s.refs.privateKey.env] = await readFile(s.files.key, 'utf8');
    }
    const logger = createLogger({ level: 'info', format: opts.logFormat, write: (s) => io.stderr(s) });
    // A test device CA the controller trusts besides Apple's, for `depctl sim enroll` (quickstart-enroll.ts).
    const ca = await quickstartCa(base);
    const controller = await startController(
      { repo, path: '.', pollInterval: 10_000, syncInterval: 60_000, listen: opts.listen, workDir: join(QUICKSTART_DIR, 'checkout'), allowLarge: false, logLevel: 'info', logFormat: opts.logFormat, once: opts.once, enrollCa: [ca.root] },
      { stateUrl: `sqlite:${join(base, 'state.db')}`, secretsDir: secrets, depUrlOverride: sims.group.url },
      { ...io, env },
      logger,
    );
    io.stdout(`depctl controller: status page ${controller.url}/  metrics ${controller.url}/metrics\n`);
    io.stdout(await enrollHint(repo, controller.url, ca, io.cwd, secrets));
    io.stdout(`Edit ${repo} and commit: the controller applies it within 10 s. Stop with Ctrl-C.\n`);
    const stop = (): void => void controller.stop();
    if (io.signal) io.signal.addEventListener('abort', stop);
    else {
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
    await controller.done;
    const s = controller.loop.current();
    const ready = s.conditions.find((c) => c.type === 'Ready');
    io.stdout(`Ready: ${ready?.status ?? 'Unknown'} (${ready?.reason ?? ''}) ${ready?.message ?? ''}\n`);
    for (const server of s.servers) io.stdout(`  ${server.name}: ${server.devices} devices; ${Object.entries(server.devicesByProfile).map(([p, n]) => `${p} ${n}`).join(', ')}\n`);
    return ready?.status === 'True' ? ExitCode.ok : ExitCode.failure;
  } finally {
    await sims.stop();
  }
}

/**
 * Copies the config into a fresh local git repository (the controller's source) and commits it. Hidden
 * folders such as `.github` come along; only DIR's own `.git` and the quickstart's folder stay behind.
 */
export async function copyIntoRepo(from: string, repo: string, base: string): Promise<void> {
  await rm(repo, { recursive: true, force: true });
  await cp(from, repo, {
    recursive: true,
    filter: (src) => {
      const rel = relative(from, src);
      if (rel === '.git' || rel.startsWith(`.git${sep}`)) return false;
      // DIR may be the working directory itself, which holds the quickstart's folder.
      return src !== base && !src.startsWith(`${base}${sep}`);
    },
  });
  const git = simpleGit({ baseDir: repo });
  await git.init(['-b', 'main']);
  await git.add(['-A']);
  await git.addConfig('user.name', 'depctl quickstart', false, 'local').addConfig('user.email', 'quickstart@depctl.invalid', false, 'local');
  await git.commit('depctl quickstart: initial config');
}
