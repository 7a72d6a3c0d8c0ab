import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { ServerToken } from '../../controller/dep/types.js';
import { encryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';
import { git } from './git.js';

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

/**
 * A directory for controller processes: `secrets/main/` holds a key pair and `token` encrypted to it (as Apple
 * does), `config.git` is a bare config repository and `work/` a clone of it on branch main. Returns its path.
 */
export async function makeControllerDir(prefix: string, token: ServerToken): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const { privateKeyPem, certificatePem } = generateKeyPair();
  await mkdir(join(dir, 'secrets', 'main'), { recursive: true });
  await writeFile(join(dir, 'secrets', 'main', 'key.pem'), privateKeyPem, { mode: 0o600 });
  await writeFile(join(dir, 'secrets', 'main', 'token.p7m'), encryptServerToken(token, certificatePem));
  git(dir, 'init', '-q', '--bare', '-b', 'main', 'config.git');
  git(dir, 'clone', '-q', join(dir, 'config.git'), 'work');
  git(join(dir, 'work'), 'checkout', '-q', '-b', 'main');
  return dir;
}

/**
 * Writes `files` into the `work/` clone of a controller directory (makeControllerDir), commits them with
 * `message` and pushes to `main`; returns the new commit id.
 */
export async function pushConfig(dir: string, files: Record<string, string>, message = 'config'): Promise<string> {
  const work = join(dir, 'work');
  for (const [rel, content] of Object.entries(files)) await writeFile(join(work, rel), content);
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', message);
  git(work, 'push', '-q', 'origin', 'HEAD:main');
  return git(work, 'rev-parse', 'HEAD');
}

/** Kills (SIGKILL) every process in `children`, empties the list, and waits until each has exited. */
export async function killAll(children: ControllerProcess[]): Promise<void> {
  for (const c of children.splice(0)) {
    c.child.kill('SIGKILL');
    await c.exited;
  }
}
