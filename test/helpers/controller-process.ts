import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** A `depctl run` child process and the URL of its HTTP server. */
export interface ControllerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
}

/** Starts `node bin/depctl.js run ARGS` (the build in dist/) and waits until it prints its status page URL. */
export async function spawnController(args: string[], env: Record<string, string>, cwd: string): Promise<ControllerProcess> {
  const child = spawn(process.execPath, [`${root}bin/depctl.js`, 'run', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (): void => {
      const m = /status page (http:\/\/[^/\s]+)\//.exec(out);
      if (m?.[1]) {
        child.stdout?.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`depctl run exited (${code}) before listening:\n${out}`)));
  });
  return { child, url, output: () => out, exited };
}

/** GET /api/status of a controller. */
export async function controllerStatus(url: string): Promise<{ leader: boolean; lastAppliedRevision: string | null; phase: string }> {
  const res = await request(`${url}/api/status`);
  return (await res.body.json()) as { leader: boolean; lastAppliedRevision: string | null; phase: string };
}
