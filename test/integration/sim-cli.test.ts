import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { runCli } from '../../controller/cli/program.js';
import type { CliIo } from '../../controller/cli/io.js';
import { startSimCommand, type StartedSim } from '../../controller/cli/sim.js';
import type { ServerToken } from '../../controller/dep/types.js';
import { generateKeyPair } from '../../controller/tokens/index.js';
import { call, type Page, session } from '../unit/sim/raw-client.js';

let dir: string;
let started: StartedSim | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'depctl-sim-'));
});
afterEach(async () => {
  await started?.stop();
  started = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** The JSON inside the decrypted MIME text (between the BEGIN/END MESSAGE markers or after the headers). */
function tokenJson(plain: string): ServerToken {
  const body = plain.slice(plain.indexOf('{'), plain.lastIndexOf('}') + 1);
  return JSON.parse(body.replace(/\r?\n/g, '')) as ServerToken;
}

describe('depctl sim --out', () => {
  it('writes key.pem (0600) and a token.p7m that openssl decrypts to the simulator credentials', async () => {
    started = await startSimCommand({ listen: '127.0.0.1:0', devices: 3, seed: 42, out: 'creds', cwd: dir });
    const key = path.join(dir, 'creds', 'key.pem');
    const token = path.join(dir, 'creds', 'token.p7m');
    expect(started.files).toEqual({ key, token });
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    const plain = execFileSync('openssl', ['smime', '-decrypt', '-in', token, '-inkey', key], { encoding: 'utf8' });
    expect(tokenJson(plain)).toEqual(started.sim.token);
    // And those credentials open a session.
    await expect(session(started.sim)).resolves.toMatch(/^[0-9A-F]{128}$/);
  });

  it('with --cert, encrypts token.p7m to another tool\'s certificate and writes no key', async () => {
    const pair = generateKeyPair({ commonName: 'nanodep-like' });
    await writeFile(path.join(dir, 'their-cert.pem'), pair.certificatePem);
    await writeFile(path.join(dir, 'their-key.pem'), pair.privateKeyPem, { mode: 0o600 });
    started = await startSimCommand({ listen: '127.0.0.1:0', devices: 1, out: 'for-them', certificate: 'their-cert.pem', cwd: dir });
    expect(started.files).toEqual({ token: path.join(dir, 'for-them', 'token.p7m') });
    await expect(stat(path.join(dir, 'for-them', 'key.pem'))).rejects.toThrow();
    const plain = execFileSync('openssl', ['smime', '-decrypt', '-in', path.join(dir, 'for-them', 'token.p7m'), '-inkey', path.join(dir, 'their-key.pem')], { encoding: 'utf8' });
    expect(tokenJson(plain)).toEqual(started.sim.token);
  });

  it('gives the same credentials and fleet for the same seed', async () => {
    const a = await startSimCommand({ listen: '127.0.0.1:0', devices: 5, seed: 7, cwd: dir });
    const b = await startSimCommand({ listen: '127.0.0.1:0', devices: 5, seed: 7, cwd: dir });
    try {
      expect(b.sim.token).toEqual(a.sim.token);
      const fleet = async (s: StartedSim): Promise<Page['devices']> => ((await call(s.sim, 'POST', '/server/devices', { session: await session(s.sim) })).json as Page).devices;
      const devices = await fleet(a);
      expect(devices).toHaveLength(5);
      expect(await fleet(b)).toEqual(devices);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('depctl sim (command)', () => {
  it('prints its URL, serves until the signal aborts, then exits 0', async () => {
    const ac = new AbortController();
    let stdout = '';
    let announce: (url: string) => void = () => {};
    const announced = new Promise<string>((resolve) => (announce = resolve));
    const io: CliIo = {
      stdout: (s) => {
        stdout += s;
        const m = /listening on (http:\/\/\S+)/.exec(stdout);
        if (m) announce(m[1] as string);
      },
      stderr: (s) => {
        stdout += s;
      },
      env: {},
      cwd: dir,
      signal: ac.signal,
    };
    const exit = runCli(['sim', '--listen', '127.0.0.1:0', '--devices', '4', '--seed', '3', '--out', 'out'], io);
    const url = await announced;
    const state = (await (await request(`${url}/_sim/state`)).body.json()) as { devices: number };
    expect(state.devices).toBe(4);
    expect(stdout).toContain(path.join(dir, 'out', 'token.p7m'));
    ac.abort();
    expect(await exit).toBe(0);
    expect(stdout).toContain('stopped');
    await expect(request(`${url}/_sim/state`)).rejects.toThrow();
  });

  it('exits 2 on a bad --listen or --devices', async () => {
    const io: CliIo = { stdout: () => {}, stderr: () => {}, env: {}, cwd: dir, signal: AbortSignal.abort() };
    let err = '';
    expect(await runCli(['sim', '--listen', 'nonsense'], { ...io, stderr: (s) => (err += s) })).toBe(2);
    expect(err).toMatch(/--listen must be HOST:PORT/);
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--devices', 'many'], io)).toBe(2);
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--cert', 'x.pem'], io)).toBe(2);
  });
});
