/**
 * Issue 18: notifications go through the store's outbox. A real `depctl run` (SQLite, the simulator, a git
 * repository) refuses a revision while the webhook receiver answers 503; it is killed with SIGKILL before it
 * could deliver; the receiver comes up, the controller restarts, and the receiver gets the notification exactly
 * once. A further restart sends nothing again: the next notification arrives alone (delivery is in order, so a
 * repeat of the first would have come before it).
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { openStore } from '../../controller/store/index.js';
import { MAIN_SERVER_YAML } from '../helpers/config-yaml.js';
import { killAll, makeControllerDir, spawnController, type ControllerProcess, pushConfig } from '../helpers/controller-process.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Received {
  id: string;
  kind: string;
  text: string;
}

/** A webhook receiver on loopback port 0: answers 503 while down, records (and answers 200) while up. */
async function startReceiver(): Promise<{ url: string; up: boolean; refused: number; received: Received[]; close(): Promise<void> }> {
  const state = { up: false, refused: 0, received: [] as Received[] };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (!state.up) {
        state.refused++;
        res.writeHead(503).end();
        return;
      }
      const j = JSON.parse(body) as Received;
      state.received.push({ id: j.id, kind: j.kind, text: j.text });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/hook/SECRET-PATH`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

describe('notification outbox across SIGKILL and restarts (depctl run, SQLite)', () => {
  let sim: RunningSimulator;
  let dir: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const children: ControllerProcess[] = [];

  const push = (files: Record<string, string>): Promise<string> => pushConfig(dir, files);

  async function start(name: string): Promise<ControllerProcess> {
    const c = await spawnController(
      ['--repo', join(dir, 'config.git'), '--branch', 'main', '--listen', '127.0.0.1:0', '--work-dir', join(dir, `checkout-${name}`), '--state', `sqlite:${join(dir, 'state.db')}`, '--secrets-dir', join(dir, 'secrets'), '--poll-interval', '5s', '--notify-url', receiver.url],
      { DEPCTL_DEP_URL: sim.url },
      dir,
    );
    children.push(c);
    return c;
  }

  async function unsent(): Promise<number> {
    const store = await openStore(`sqlite:${join(dir, 'state.db')}`);
    try {
      return await store.countUnsentNotifications();
    } finally {
      await store.close();
    }
  }

  beforeEach(async () => {
    expect(existsSync(join(root, 'dist/main.js')), 'npm test builds dist/ first').toBe(true);
    sim = await startSimulator({ devices: 0, seed: 7 });
    receiver = await startReceiver();
    dir = await makeControllerDir('depctl-outbox-', sim.token);
  });

  afterEach(async () => {
    await killAll(children);
    await receiver.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers a notification stored before a SIGKILL exactly once after the restart, and never again', async () => {
    const bad = await push({ 'servers.yaml': MAIN_SERVER_YAML, 'broken.yaml': 'kind: Nonsense\nmetadata: {}\n' });
    const first = await start('a');
    // Stored and tried once against the receiver that is down.
    await vi.waitFor(() => expect(receiver.refused).toBeGreaterThan(0), { timeout: 30_000, interval: 20 });
    first.child.kill('SIGKILL');
    await first.exited;
    expect(receiver.received).toEqual([]);
    expect(await unsent()).toBe(1);

    receiver.up = true;
    const second = await start('b');
    // The failed attempt backed off (5 s); the restarted leader sends it when that time has come.
    await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThan(0), { timeout: 30_000, interval: 20 });
    await vi.waitFor(async () => expect(await unsent()).toBe(0), { timeout: 10_000, interval: 20 });
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]).toMatchObject({ kind: 'revision-refused' });
    expect(receiver.received[0]!.text).toContain(bad.slice(0, 12));
    expect(second.output()).not.toContain('SECRET-PATH');
    second.child.kill('SIGKILL');
    await second.exited;

    // A third start sees the same refused revision (already notified, still active) and then a new one.
    const third = await start('c');
    const worse = await push({ 'broken.yaml': 'kind: Nonsense\nmetadata: { name: again }\n' });
    await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThan(1), { timeout: 30_000, interval: 20 });
    await vi.waitFor(async () => expect(await unsent()).toBe(0), { timeout: 10_000, interval: 20 });
    expect(receiver.received.map((r) => r.kind)).toEqual(['revision-refused', 'revision-refused']);
    expect(receiver.received[1]!.text).toContain(worse.slice(0, 12));
    expect(new Set(receiver.received.map((r) => r.id)).size).toBe(2);
    expect(third.output()).not.toContain('SECRET-PATH');
    // Three controller starts, a 5 s backoff, the 10 s drain timer and a 5 s poll: ~27 s on an idle machine,
    // so the default 60 s leaves too little room on a loaded one.
  }, 120_000);
});
