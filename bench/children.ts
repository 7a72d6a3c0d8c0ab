/**
 * What the benches that run the simulator and depctl in processes of their own share: forking a role of the
 * bench script itself, and a request/reply channel to the simulator child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A reply of the simulator child to a `call` (the roles send it). */
export interface SimReply {
  type: 'reply';
  id: number;
  value: unknown;
}

/** A request/reply channel to the simulator child. */
export class SimChannel {
  private next = 0;
  private readonly waiting = new Map<number, (v: unknown) => void>();
  constructor(private readonly child: ChildProcess) {
    child.on('message', (m: SimReply) => {
      if (m.type === 'reply') this.waiting.get(m.id)?.(m.value);
    });
  }
  call<T>(op: string, extra: Record<string, unknown> = {}): Promise<T> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, (v) => {
        this.waiting.delete(id);
        resolve(v as T);
      });
      this.child.send({ id, op, ...extra });
    });
  }
}

/** Forks `script --role sim N` and waits for its first message (the simulator's ready report). */
export function startSimChild<R>(script: string, devices: number): Promise<{ channel: SimChannel; ready: R; child: ChildProcess }> {
  const child = fork(script, ['--role', 'sim', String(devices)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before it was ready`)));
    child.once('message', (m: R) => resolve({ channel: new SimChannel(child), ready: m, child }));
  });
}

/**
 * Forks `script` with `args` (a role and its arguments), the environment `env` handed over as
 * BENCH_DEPCTL_ENV and the working directory as BENCH_CWD, with `nodeFlags` and optionally under `--cpu-prof` into `profDir`;
 * resolves with the child's last message, or rejects when it exits without one.
 */
export function runRoleChild<T>(script: string, args: string[], env: Record<string, string>, cwd: string, profDir?: string, nodeFlags: readonly string[] = []): Promise<T> {
  const execArgv = [...nodeFlags, '--import', 'tsx', ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
  const child = fork(script, args, { execArgv, env: { ...process.env, BENCH_DEPCTL_ENV: JSON.stringify(env), BENCH_CWD: cwd }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let result: T | undefined;
    child.on('message', (m: T) => {
      result = m;
    });
    child.on('error', reject);
    child.on('exit', (code) => (result !== undefined ? resolve(result) : reject(new Error(`child ${args.join(' ')} exited ${code} without a result`))));
  });
}

/** What bench/cli-child.mjs reports of one depctl run; `plan*` is up to its first output. */
export interface CliChildDone {
  type: 'done';
  code: number;
  wallMs: number;
  cpuMs: number;
  planWallMs: number;
  planCpuMs: number;
  maxRssMiB: number;
  stdoutTail: string;
  stderr: string;
}

/**
 * Runs `depctl ARGS` in bench/cli-child.mjs: the build in dist/ under plain node (what `bin/depctl.js` and so
 * every operator runs), so that the modules a command imports on its way load as in production, not through
 * tsx. Warns when the build is older than the sources (it would measure code that is not the working tree's).
 * BENCH_SOURCE=1 runs the TypeScript sources under tsx instead (no build needed, slower start); BENCH_DIST=DIR
 * another copy of the build (a directory inside this repository, so that its packages and schemas/ resolve),
 * unchecked: to compare two builds, or to keep measuring one while the tree is rebuilt.
 */
export function runCliChild(args: string[], env: Record<string, string>, cwd: string, profDir?: string): Promise<CliChildDone> {
  const source = process.env['BENCH_SOURCE'] === '1';
  const other = process.env['BENCH_DIST'];
  if (!source && !other) checkBuild();
  const execArgv = [...depctlNodeFlags(), ...(source ? ['--import', 'tsx'] : []), ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
  const childEnv = { ...process.env, BENCH_DEPCTL_ENV: JSON.stringify(env), BENCH_CWD: cwd, ...(other ? { BENCH_DIST: resolve(other) } : {}) };
  const child = fork(fileURLToPath(new URL('./cli-child.mjs', import.meta.url)), args, { execArgv, env: childEnv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolvePromise, reject) => {
    let result: CliChildDone | undefined;
    child.on('message', (m: CliChildDone) => {
      result = m;
    });
    child.on('error', reject);
    child.on('exit', (code) => (result !== undefined ? resolvePromise(result) : reject(new Error(`depctl ${args.join(' ')} exited ${code} without a result`))));
  });
}

/**
 * The node flags the container image starts depctl with: its Dockerfile's ENTRYPOINT (exec form), the
 * arguments between `node` and `/app/bin/depctl.js`.
 */
export function imageNodeFlags(dockerfile: string): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT'));
  const entry = line === undefined ? undefined : (JSON.parse(line.slice('ENTRYPOINT'.length)) as unknown);
  if (!Array.isArray(entry)) throw new Error('bench: the Dockerfile has no ENTRYPOINT in exec form');
  const node = entry.indexOf('node');
  const script = entry.indexOf('/app/bin/depctl.js');
  if (node < 0 || script < node) throw new Error(`bench: the Dockerfile's ENTRYPOINT does not run node /app/bin/depctl.js: ${line}`);
  return entry.slice(node + 1, script).map(String);
}

/**
 * The node flags of every measured depctl run: BENCH_NODE_FLAGS when set (space-separated; empty for none, as
 * `npx depctl` runs), else the image's (imageNodeFlags), so that the figures are those of the shipped controller.
 */
export function depctlNodeFlags(): string[] {
  const given = process.env['BENCH_NODE_FLAGS'];
  if (given !== undefined) return given.split(/\s+/).filter((f) => f !== '');
  return imageNodeFlags(readFileSync(fileURLToPath(new URL('../Dockerfile', import.meta.url)), 'utf8'));
}

/** The header line every bench prints: the machine, node, and the node flags depctl's runs get. */
export function machineLine(): string {
  return `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; depctl runs with node flags: ${depctlNodeFlags().join(' ') || '(none)'} (BENCH_NODE_FLAGS overrides the image's)`;
}

let buildChecked = false;

/** Throws when dist/ is missing; warns (once) when a source file is newer than it (a tree others edit too). */
function checkBuild(): void {
  if (buildChecked) return;
  buildChecked = true;
  const built = fileURLToPath(new URL('../dist/cli/program.js', import.meta.url));
  let builtAt: number;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    throw new Error('bench: dist/ is missing; run `npm run build` first (or BENCH_SOURCE=1 to run the sources)');
  }
  const src = fileURLToPath(new URL('../controller/', import.meta.url));
  const stale = readdirSync(src, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('.ts') && statSync(`${src}${f}`).mtimeMs > builtAt);
  if (stale) console.warn(`bench: warning: dist/ is older than controller/${stale}; run \`npm run build\` to measure the sources as they are`);
}
