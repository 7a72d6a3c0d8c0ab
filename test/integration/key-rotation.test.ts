import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import type { ServerToken } from '../../controller/dep/types.js';
import { encryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';
import { TokenRotation, type RotationEvent } from '../../controller/tokens/rotation.js';
import { handleRotationEvent } from '../../controller/credentials/rotation-events.js';
import { connectServers, type RuntimeSettings } from '../../controller/cli/runtime.js';
import { startController, type RunningController } from '../../controller/cli/run.js';
import type { CliIo } from '../../controller/cli/io.js';
import { loadConfig } from '../../controller/config/load.js';
import type { DepConfig } from '../../controller/config/types.js';
import type { ControllerStatus } from '../../controller/reconcile/status.js';
import { openStore, type Store } from '../../controller/store/index.js';
import { createLogger } from '../../controller/util/logger.js';
import { git } from '../helpers/git.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

const DAY = 86_400_000;

const config = {
  'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
`,
};

/** A renewed token: Apple's credentials for the server, with the expiry a new download carries. */
function renewed(token: ServerToken, now: Date): ServerToken {
  return { ...token, access_token_expiry: new Date(now.getTime() + 365 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

describe('depctl keys rotate and the token renewal without downtime (real DEP client, simulator over HTTP, SQLite)', () => {
  let group: RunningSimulatorGroup;
  let ws: Workspace;
  let paris: SimulatedServer;
  let lyon: SimulatedServer;
  let keyPath: string;
  let tokenPath: string;

  beforeEach(async () => {
    group = await startSimulatorGroup({ servers: [{ name: 'paris', serverName: 'Paris MDM' }, { name: 'lyon', serverName: 'Lyon MDM' }], orgName: 'Lycée Voltaire' });
    paris = group.servers.get('paris') as SimulatedServer;
    lyon = group.servers.get('lyon') as SimulatedServer;
    ws = await makeWorkspace(group.url);
    await ws.addServerSecrets('paris', paris.token);
    await ws.commit(config);
    keyPath = join(ws.secretsDir, 'paris', 'key.pem');
    tokenPath = join(ws.secretsDir, 'paris', 'token.p7m');
  });

  afterEach(async () => {
    await group.close();
    await ws.cleanup();
  });

  async function loadConfigOrThrow(): Promise<DepConfig> {
    const r = await loadConfig(ws.configDir, { secretsDir: ws.secretsDir });
    if (!r.config) throw new Error(JSON.stringify(r.problems));
    return r.config;
  }

  it('stages a key, switches to a renewed token of the same server, refuses another server\'s and an unreadable one, and retires the old key', async () => {
    // The first plan records which MDM server the token opens (GET /account).
    const first = await ws.depctl(['plan', 'config']);
    expect(first.code, first.stderr).toBe(0);
    const oldKey = await readFile(keyPath, 'utf8');
    const oldToken = await readFile(tokenPath);

    const rotate = await ws.depctl(['keys', 'rotate', '--server', 'paris', '--config', 'config']);
    expect(rotate.code, rotate.stderr).toBe(0);
    const stagedKey = join(ws.secretsDir, 'paris', 'key.next.pem');
    const stagedCert = join(ws.secretsDir, 'paris', 'key.next.cert.pem');
    expect(rotate.stdout).toContain(`Wrote ${stagedKey}`);
    expect(rotate.stdout).toContain('Preferences → your MDM server → Edit');
    expect(rotate.stdout).toContain(`Place it at ${tokenPath}`);
    expect(rotate.stdout).not.toMatch(/BEGIN/);
    expect(await readFile(keyPath, 'utf8')).toBe(oldKey);
    expect(await readFile(tokenPath)).toEqual(oldToken);
    const stagedKeyPem = await readFile(stagedKey, 'utf8');
    expect(stagedKeyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    // A second rotate while one is staged changes nothing.
    const again = await ws.depctl(['keys', 'rotate', '--server', 'paris', '--config', 'config']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already staged');

    let now = new Date();
    const events: RotationEvent[] = [];
    const store: Store = await openStore(`sqlite:${ws.statePath}`);
    const quiet = { info: () => {}, warn: () => {}, error: () => {} };
    const notified: string[] = [];
    const rotation = new TokenRotation({
      now: () => now,
      onEvent: async (e) => {
        events.push(e);
        // The controller's handler (run.ts): log, audit in the store, notify.
        await handleRotationEvent(e, { log: quiet, audit: (entries) => store.appendAudit(entries), now: () => now, notify: async (key) => void notified.push(key) });
      },
    });
    const settings: RuntimeSettings = { stateUrl: `sqlite:${ws.statePath}`, secretsDir: ws.secretsDir, depUrlOverride: group.url };
    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} };
    const cfg = await loadConfigOrThrow();
    const parisUuid = (await store.getServer('paris'))?.serverUuid;
    expect(parisUuid).toMatch(/\S/);
    /** One pass's connection; returns the server_uuid the client in use answers for. */
    const pass = async (): Promise<string | null> => {
      const conns = await connectServers(cfg, settings, io, store, { now: () => now, rotation });
      try {
        const client = conns.handles[0]?.client;
        return client ? (await client.account()).server_uuid : null;
      } finally {
        await conns.close();
      }
    };
    try {
      // Staged, before the upload: the current key keeps opening the current token.
      expect(await pass()).toBe(parisUuid);
      expect(rotation.status('paris')).toMatchObject({ state: 'staged', summary: 'renewal in progress' });
      expect(rotation.status('paris')?.stepsLeft).toHaveLength(4);
      expect(rotation.status('paris')?.stepsLeft[2]).toContain(tokenPath);

      // The renewed token, encrypted by "Apple" to the staged certificate, replaces the file.
      await writeFile(tokenPath, encryptServerToken(renewed(paris.token, now), await readFile(stagedCert, 'utf8')));
      expect(await pass()).toBe(parisUuid);
      expect(events.map((e) => e.kind)).toEqual(['switched']);
      expect(await readFile(keyPath, 'utf8')).toBe(stagedKeyPem);
      expect(existsSync(stagedKey)).toBe(false);
      expect(existsSync(join(ws.secretsDir, 'paris', 'key.cert.pem'))).toBe(true);
      const retired = join(ws.secretsDir, 'paris', `key.retired-${now.toISOString().slice(0, 10)}.pem`);
      expect(await readFile(retired, 'utf8')).toBe(oldKey);
      expect(rotation.status('paris')).toMatchObject({ state: 'switched', stepsLeft: [] });
      const audit = await store.readAudit({ server: 'paris', limit: 100 });
      expect(audit.filter((a) => a.action === 'token-renewed')).toHaveLength(1);
      expect(audit.find((a) => a.action === 'token-renewed')).toMatchObject({ outcome: 'success', serial: null });
      // The switched key opens the token on its own: a fresh process (plan) needs no staged key.
      const plan = await ws.depctl(['plan', 'config']);
      expect(plan.code, plan.stderr).toBe(0);

      // The next renewal: a token of Lyon MDM encrypted to the new staged key is refused; paris keeps its token.
      expect((await ws.depctl(['keys', 'rotate', '--server', 'paris', '--config', 'config'])).code).toBe(0);
      const currentKey = await readFile(keyPath, 'utf8');
      await writeFile(tokenPath, encryptServerToken(lyon.token, await readFile(stagedCert, 'utf8')));
      events.length = 0;
      expect(await pass()).toBe(parisUuid);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ kind: 'refused', reason: 'other-server' });
      expect(events[0]?.message).toContain('belongs to MDM server "Lyon MDM"');
      expect(events[0]?.message).toContain('the token in use before keeps working');
      expect(rotation.status('paris')).toMatchObject({ state: 'refused', summary: 'renewal in progress' });
      expect(await readFile(keyPath, 'utf8')).toBe(currentKey);
      expect(existsSync(stagedKey)).toBe(true);
      // The same refused file next pass: still the old token, not notified twice.
      expect(await pass()).toBe(parisUuid);
      expect(events).toHaveLength(1);
      expect(notified.filter((k) => k.startsWith('renewal-refused:paris:'))).toHaveLength(1);

      // A token no key opens (encrypted to an unrelated certificate) is refused too.
      const stranger = generateKeyPair({ commonName: 'someone else' });
      await writeFile(tokenPath, encryptServerToken(renewed(paris.token, now), stranger.certificatePem));
      expect(await pass()).toBe(parisUuid);
      expect(events[1]).toMatchObject({ kind: 'refused', reason: 'unreadable' });
      expect(events[1]?.message).toContain('neither the staged key (key.next.pem) nor the current key (key.pem) opens it');
      for (const e of events) {
        for (const secret of [paris.token.access_secret, paris.token.consumer_secret, lyon.token.access_secret]) expect(e.message).not.toContain(secret);
      }

      // After the grace period the retired key is deleted.
      now = new Date(now.getTime() + 8 * DAY);
      await pass();
      expect(existsSync(retired)).toBe(false);
      expect(events.some((e) => e.kind === 'retired-deleted')).toBe(true);
      const audit2 = await store.readAudit({ server: 'paris', limit: 100 });
      expect(audit2.filter((a) => a.action === 'token-renewal-refused').length).toBeGreaterThanOrEqual(2);
    } finally {
      await store.close();
    }
  });

  it('without a token in use, a renewed token of another server is refused and the server is stopped with the reason', async () => {
    expect((await ws.depctl(['plan', 'config'])).code).toBe(0);
    expect((await ws.depctl(['keys', 'rotate', '--server', 'paris', '--config', 'config'])).code).toBe(0);
    await writeFile(tokenPath, encryptServerToken(lyon.token, await readFile(join(ws.secretsDir, 'paris', 'key.next.cert.pem'), 'utf8')));
    const rotation = new TokenRotation({ now: () => new Date() });
    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      const conns = await connectServers(await loadConfigOrThrow(), { stateUrl: '', secretsDir: ws.secretsDir, depUrlOverride: group.url }, { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} }, store, { now: () => new Date(), rotation });
      await conns.close();
      expect(conns.handles[0]?.client).toBeNull();
      expect(conns.handles[0]?.problem?.message).toContain('belongs to MDM server "Lyon MDM"');
      expect(existsSync(join(ws.secretsDir, 'paris', 'key.next.pem'))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('Apple does not answer when the renewed token arrives: checked again next pass, the old key stays until then', async () => {
    expect((await ws.depctl(['plan', 'config'])).code).toBe(0);
    expect((await ws.depctl(['keys', 'rotate', '--server', 'paris', '--config', 'config'])).code).toBe(0);
    const oldKey = await readFile(keyPath, 'utf8');
    const events: RotationEvent[] = [];
    const rotation = new TokenRotation({ now: () => new Date(), onEvent: (e) => void events.push(e) });
    const store = await openStore(`sqlite:${ws.statePath}`);
    const settings: RuntimeSettings = { stateUrl: '', secretsDir: ws.secretsDir, depUrlOverride: group.url };
    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} };
    const cfg = await loadConfigOrThrow();
    const connect = async (): Promise<boolean> => {
      const conns = await connectServers(cfg, settings, io, store, { now: () => new Date(), rotation });
      await conns.close();
      return conns.handles[0]?.client !== null;
    };
    try {
      expect(await connect()).toBe(true);
      await writeFile(tokenPath, encryptServerToken(renewed(paris.token, new Date()), await readFile(join(ws.secretsDir, 'paris', 'key.next.cert.pem'), 'utf8')));
      paris.injectFaults({ httpStatus: { status: 503, count: 1000, path: '/account' } });
      expect(await connect()).toBe(true);
      expect(rotation.status('paris')?.state).toBe('verifying');
      expect(rotation.status('paris')?.message).toContain('could not be checked yet');
      expect(await readFile(keyPath, 'utf8')).toBe(oldKey);
      expect(events).toEqual([]);
      paris.clearFaults();
      expect(await connect()).toBe(true);
      expect(rotation.status('paris')?.state).toBe('switched');
      expect(events.map((e) => e.kind)).toEqual(['switched']);
      expect(await readFile(keyPath, 'utf8')).not.toBe(oldKey);
    } finally {
      await store.close();
    }
  });

  it('depctl run: /api/status shows the renewal in progress with the steps left, then the switch', async () => {
    git(ws.root, 'init', '-q', '--bare', '-b', 'main', 'config.git');
    git(ws.configDir, 'push', '-q', join(ws.root, 'config.git'), 'HEAD:main');
    expect((await ws.depctl(['keys', 'rotate', '--server', 'paris', '--config', 'config'])).code).toBe(0);
    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} };
    const logger = createLogger({ level: 'error', format: 'json', write: () => {} });
    const c: RunningController = await startController(
      { repo: join(ws.root, 'config.git'), branch: 'main', path: '.', pollInterval: 60_000, syncInterval: 60_000, listen: '127.0.0.1:0', workDir: join(ws.root, 'checkout'), allowLarge: false, logLevel: 'error', logFormat: 'json' },
      { stateUrl: `sqlite:${ws.statePath}`, secretsDir: ws.secretsDir, depUrlOverride: group.url },
      io,
      logger,
    );
    const status = async (): Promise<ControllerStatus> => (await (await request(`${c.url}/api/status`)).body.json()) as ControllerStatus;
    try {
      await vi.waitFor(async () => expect((await status()).servers[0]?.renewal?.state).toBe('staged'), { timeout: 20_000, interval: 25 });
      const staged = (await status()).servers[0]?.renewal;
      expect(staged?.summary).toBe('renewal in progress');
      expect(staged?.stepsLeft[0]).toContain('upload the public key');
      const page = await (await request(`${c.url}/`)).body.text();
      expect(page).toContain('data-testid="renewal-paris" data-state="staged"');

      await writeFile(tokenPath, encryptServerToken(renewed(paris.token, new Date()), await readFile(join(ws.secretsDir, 'paris', 'key.next.cert.pem'), 'utf8')));
      c.loop.trigger('manual');
      await vi.waitFor(async () => expect((await status()).servers[0]?.renewal?.state).toBe('switched'), { timeout: 20_000, interval: 25 });
      expect(c.loop.current().conditions.find((x) => x.type === 'Ready')?.status).toBe('True');
      expect((await readdir(join(ws.secretsDir, 'paris'))).filter((f) => f.startsWith('key.retired-'))).toHaveLength(1);
    } finally {
      await c.stop();
    }
  });
});
