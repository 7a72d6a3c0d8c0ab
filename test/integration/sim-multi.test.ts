import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { runCli } from '../../controller/cli/program.js';
import type { CliIo } from '../../controller/cli/io.js';
import { startSimGroupCommand, type StartedSimGroup } from '../../controller/cli/sim-group.js';
import { createDepClient } from '../../controller/dep/client.js';
import type { ServerToken } from '../../controller/dep/types.js';
import type { SimulatedServer } from '../../controller/sim/api.js';
import { decryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';

const EXAMPLES = path.resolve(import.meta.dirname, '../../examples/school');

let dir: string;
let started: StartedSimGroup | undefined;
let agent: Agent;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'depctl-sim-multi-'));
  agent = new Agent();
});
afterEach(async () => {
  await started?.stop();
  started = undefined;
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

/** The JSON inside openssl's decrypted MIME text. */
function tokenJson(plain: string): ServerToken {
  const body = plain.slice(plain.indexOf('{'), plain.lastIndexOf('}') + 1);
  return JSON.parse(body.replace(/\r?\n/g, '')) as ServerToken;
}

function server(name: string): SimulatedServer {
  return started?.group.servers.get(name) as SimulatedServer;
}

/** Every serial the real DEP client fetches with a token, as depctl plan would with DEPCTL_DEP_URL set. */
async function fetchedWith(token: ServerToken): Promise<string[]> {
  const group = started?.group;
  if (!group) throw new Error('not started');
  const client = createDepClient({ baseUrl: group.url, token, dispatcher: agent, now: () => server('paris').inspect.now() });
  const serials: string[] = [];
  try {
    for await (const page of client.fetchAllDevices({ limit: 1000 })) serials.push(...page.devices.map((d) => d.serial_number));
  } finally {
    await client.close();
  }
  return serials;
}

describe('depctl sim --servers', () => {
  it('writes DIR/NAME/token.p7m and key.pem (0600) per server; openssl decrypts each to that server\'s credentials', async () => {
    started = await startSimGroupCommand({ listen: '127.0.0.1:0', devices: 3, seed: 5, servers: ['paris', 'lyon'], out: 'secrets', cwd: dir });
    const tokens: ServerToken[] = [];
    for (const name of ['paris', 'lyon']) {
      const key = path.join(dir, 'secrets', name, 'key.pem');
      const token = path.join(dir, 'secrets', name, 'token.p7m');
      expect(started.servers.find((s) => s.name === name)?.files).toEqual({ key, token });
      expect((await stat(key)).mode & 0o777).toBe(0o600);
      const plain = execFileSync('openssl', ['smime', '-decrypt', '-in', token, '-inkey', key], { encoding: 'utf8' });
      expect(tokenJson(plain)).toEqual(server(name).token);
      tokens.push(tokenJson(plain));
    }
    expect(tokens[0]?.consumer_key).not.toBe(tokens[1]?.consumer_key);
    // Each decrypted token opens a session on one listener and sees only its own three devices.
    const [paris, lyon] = [await fetchedWith(tokens[0] as ServerToken), await fetchedWith(tokens[1] as ServerToken)];
    expect(paris).toHaveLength(3);
    expect(lyon).toHaveLength(3);
    expect(paris.filter((s) => lyon.includes(s))).toEqual([]);
  });

  it('with --cert, encrypts every server\'s token to that certificate and writes no key', async () => {
    const pair = generateKeyPair({ commonName: 'nanodep-like' });
    await writeFile(path.join(dir, 'their-cert.pem'), pair.certificatePem);
    started = await startSimGroupCommand({ listen: '127.0.0.1:0', devices: 1, servers: ['a', 'b'], out: 'for-them', certificate: 'their-cert.pem', cwd: dir });
    for (const name of ['a', 'b']) {
      const token = path.join(dir, 'for-them', name, 'token.p7m');
      expect(started.servers.find((s) => s.name === name)?.files).toEqual({ token });
      await expect(stat(path.join(dir, 'for-them', name, 'key.pem'))).rejects.toThrow();
      expect(decryptServerToken(await readFile(token), pair.privateKeyPem)).toEqual(server(name).token);
    }
  });

  it('runs from the command line: one line per server, DEPCTL_DEP_URL, then stops on the signal', async () => {
    const ac = new AbortController();
    let out = '';
    let announce: (url: string) => void = () => {};
    const announced = new Promise<string>((resolve) => (announce = resolve));
    const io: CliIo = {
      stdout: (s) => {
        out += s;
        const m = /^DEPCTL_DEP_URL=(\S+)$/m.exec(out);
        if (m) announce(m[1] as string);
      },
      stderr: (s) => (out += s),
      env: {},
      cwd: dir,
      signal: ac.signal,
    };
    const exit = runCli(['sim', '--listen', '127.0.0.1:0', '--servers', 'north,south', '--devices', '2'], io);
    const url = await announced;
    expect(out).toMatch(/^ {2}north: 2 devices; token at \/_sim\/servers\/north\/token$/m);
    expect(out).toMatch(/^ {2}south: 2 devices; /m);
    const list = (await (await request(`${url}/_sim/servers`)).body.json()) as { servers: { name: string; devices: number }[] };
    expect(list.servers.map((s) => [s.name, s.devices])).toEqual([['north', 2], ['south', 2]]);
    ac.abort();
    expect(await exit).toBe(0);
    await expect(request(`${url}/_sim/servers`)).rejects.toThrow();
  });

  it('exits 2 on a malformed --servers list', async () => {
    let err = '';
    const io: CliIo = { stdout: () => {}, stderr: (s) => (err += s), env: {}, cwd: dir, signal: AbortSignal.abort() };
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--servers', ' , '], io)).toBe(2);
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--servers', 'a,a'], io)).toBe(2);
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--servers', 'a/b'], io)).toBe(2);
    expect(err).toMatch(/lists a name twice/);
  });
});

describe('depctl sim --config', () => {
  it('serves the example config\'s servers, each seeded with the serials its assignments list', async () => {
    started = await startSimGroupCommand({ listen: '127.0.0.1:0', devices: 10, config: EXAMPLES, out: 'secrets', cwd: dir });
    expect(started.servers.map((s) => [s.name, s.listed, s.devices])).toEqual([
      ['paris', 13, 23],
      ['lyon', 4, 14],
    ]);
    expect(server('paris').inspect.device('F9FXK1ABCD12')).toMatchObject({ device_family: 'iPad', os: 'iPadOS' });
    expect(server('paris').inspect.device('H4WQ9X7L2V')).toMatchObject({ device_family: 'iPad' });
    // lobby-tv spans both servers: its Apple TVs land on the first one, paris, and only there.
    expect(server('paris').inspect.device('C07ZK1MLJ1GR')).toMatchObject({ device_family: 'AppleTV', os: 'tvOS' });
    expect(server('lyon').inspect.device('C07ZK1MLJ1GR')).toBeUndefined();
    expect(server('lyon').inspect.device('J7HQ2M4XKV')).toMatchObject({ device_family: 'iPad', os: 'iPadOS' });
    expect(server('paris').inspect.device('J7HQ2M4XKV')).toBeUndefined();

    // End to end as the quickstart does it: decrypt lyon's token file with its key and fetch.
    const lyonDir = path.join(dir, 'secrets', 'lyon');
    const lyonToken = decryptServerToken(await readFile(path.join(lyonDir, 'token.p7m')), await readFile(path.join(lyonDir, 'key.pem')));
    const fetched = await fetchedWith(lyonToken);
    expect(fetched).toHaveLength(14);
    expect(fetched).toEqual(expect.arrayContaining(['J7HQ2M4XKV', 'J7HQ2M4XKW', 'J7HQ2M4XKX', 'J7HQ2M4XKY']));
    expect(fetched).not.toContain('F9FXK1ABCD12');
  });

  it('takes the server names from --servers over the config\'s', async () => {
    started = await startSimGroupCommand({ listen: '127.0.0.1:0', devices: 0, config: EXAMPLES, servers: ['lyon'], cwd: dir });
    expect(started.servers.map((s) => s.name)).toEqual(['lyon']);
    // With paris gone, lobby-tv's serials go to lyon, the next of its servers; classroom-2025's are skipped.
    expect(server('lyon').inspect.deviceCount()).toBe(6);
    expect(server('lyon').inspect.device('C07ZK1MLJ1GT')).toMatchObject({ device_family: 'AppleTV' });
    expect(started.skipped).toBe(11);
  });

  it('prints the problems and exits 1 when the config is invalid', async () => {
    let err = '';
    const io: CliIo = { stdout: () => {}, stderr: (s) => (err += s), env: {}, cwd: dir, signal: AbortSignal.abort() };
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--config', 'missing'], io)).toBe(1);
    expect(err).toMatch(/missing:1:1: error: config directory does not exist \[io-error\]/);
    expect(err).toMatch(/the simulator was not started/);
  });
});
