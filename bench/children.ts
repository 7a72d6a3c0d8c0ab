/**
 * What the benches that run the simulator and depctl in processes of their own share: forking a role of the
 * bench script itself, and a request/reply channel to the simulator child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as Program from '../controller/cli/program.js';

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
 * BENCH_DEPCTL_ENV and the working directory as BENCH_CWD, optionally under `--cpu-prof` into `profDir`;
 * resolves with the child's last message, or rejects when it exits without one.
 */
export function runRoleChild<T>(script: string, args: string[], env: Record<string, string>, cwd: string, profDir?: string): Promise<T> {
  const execArgv = ['--import', 'tsx', ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
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

/**
 * The CLI a measured depctl child runs: the compiled build (dist/, what `bin/depctl.js` and so every operator
 * runs), so that modules the command imports on its way are timed as they load in production, not as tsx
 * transpiles them. BENCH_SOURCE=1 runs the TypeScript sources instead (no build needed, slower start).
 * Refuses a build older than the sources, which would measure code that is not the working tree's.
 */
export async function importCli(): Promise<typeof Program> {
  if (process.env['BENCH_SOURCE'] === '1') return import('../controller/cli/program.js');
  const built = new URL('../dist/cli/program.js', import.meta.url);
  const builtAt = (() => {
    try {
      return statSync(built).mtimeMs;
    } catch {
      throw new Error('bench: dist/ is missing; run `npm run build` first (or BENCH_SOURCE=1 to run the sources)');
    }
  })();
  const src = fileURLToPath(new URL('../controller/', import.meta.url));
  const stale = (readdirSync(src, { recursive: true }) as string[]).find((f) => f.endsWith('.ts') && statSync(`${src}${f}`).mtimeMs > builtAt);
  if (stale) throw new Error(`bench: dist/ is older than controller/${stale}; run \`npm run build\` first (or BENCH_SOURCE=1 to run the sources)`);
  return (await import(built.href)) as typeof Program;
}
