import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import { startController, type RunningController } from '../../controller/cli/run.js';
import type { CliIo } from '../../controller/cli/io.js';
import type { ControllerStatus } from '../../controller/reconcile/status.js';
import { createLogger } from '../../controller/util/logger.js';
import { git } from '../helpers/git.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

const DAY = 86_400_000;
const UID = '0.9.2342.19200300.100.1.1';

function pushCertificatePem(topicUuid: string, notAfter: Date): string {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0' + forge.util.bytesToHex(forge.random.getBytesSync(8));
  cert.validity.notBefore = new Date(notAfter.getTime() - 365 * DAY);
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ type: UID, value: `com.apple.mgmt.External.${topicUuid}` }, { shortName: 'CN', value: `APSP:${topicUuid}` }]);
  cert.setIssuer([{ shortName: 'CN', value: 'Apple Application Integration 2 Certification Authority' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return forge.pki.privateKeyToPem(keys.privateKey) + forge.pki.certificateToPem(cert);
}

const TOPIC = '0a1b2c3d-0000-4000-8000-000000000001';

describe('depctl run watches every credential: /api/status, the status page, the metric and notifications', () => {
  let group: RunningSimulatorGroup;
  let ws: Workspace;
  let hook: Server;
  let hookUrl: string;
  const received: { kind: string; severity: string; text: string; details: Record<string, unknown> }[] = [];

  beforeEach(async () => {
    received.length = 0;
    group = await startSimulatorGroup({ servers: [{ name: 'paris', serverName: 'Paris MDM' }], orgName: 'Lycée Voltaire' });
    ws = await makeWorkspace(group.url);
    await ws.addServerSecrets('paris', (group.servers.get('paris') as SimulatedServer).token);
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as (typeof received)[number]);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  });

  afterEach(async () => {
    await group.close();
    await ws.cleanup();
    await new Promise<void>((r) => hook.close(() => r()));
  });

  it('reports the APNs certificate and the Apps and Books token with their expiry, and refuses a push certificate with another topic', async () => {
    const now = new Date();
    await mkdir(join(ws.secretsDir, 'apns'), { recursive: true });
    await mkdir(join(ws.secretsDir, 'vpp'), { recursive: true });
    const apnsExpiry = new Date(now.getTime() + 10 * DAY + 3_600_000);
    await writeFile(join(ws.secretsDir, 'apns', 'push.pem'), pushCertificatePem(TOPIC, apnsExpiry), { mode: 0o600 });
    const vppExpiry = new Date(now.getTime() + 200 * DAY);
    const vpp = JSON.stringify({ token: 'vpp-secret-token-value', expDate: vppExpiry.toISOString().replace(/\.\d{3}Z$/, '+0000'), orgName: 'Paris campus' });
    await writeFile(join(ws.secretsDir, 'vpp', 'paris.vpptoken'), Buffer.from(vpp).toString('base64'), { mode: 0o600 });
    await ws.commit({
      'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
`,
      'credentials.yaml': `apiVersion: depctl/v1
kind: Credential
metadata: { name: push }
spec:
  type: apns
  certificate: { file: apns/push.pem }
---
apiVersion: depctl/v1
kind: Credential
metadata: { name: paris-campus }
spec:
  type: vpp
  token: { file: vpp/paris.vpptoken }
`,
    });
    git(ws.root, 'init', '-q', '--bare', '-b', 'main', 'config.git');
    git(ws.configDir, 'push', '-q', join(ws.root, 'config.git'), 'HEAD:main');
    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} };
    const logs: string[] = [];
    const logger = createLogger({ level: 'info', format: 'json', write: (s) => void logs.push(s) });
    const c: RunningController = await startController(
      { repo: join(ws.root, 'config.git'), branch: 'main', path: '.', pollInterval: 60_000, syncInterval: 60_000, listen: '127.0.0.1:0', workDir: join(ws.root, 'checkout'), allowLarge: false, logLevel: 'info', logFormat: 'json', notifyUrl: hookUrl },
      { stateUrl: `sqlite:${ws.statePath}`, secretsDir: ws.secretsDir, depUrlOverride: group.url },
      io,
      logger,
    );
    const status = async (): Promise<ControllerStatus> => (await (await request(`${c.url}/api/status`)).body.json()) as ControllerStatus;
    try {
      await vi.waitFor(async () => expect((await status()).credentials?.length).toBe(3), { timeout: 20_000, interval: 25 });
      const creds = (await status()).credentials ?? [];
      expect(creds.find((x) => x.kind === 'dep-token')).toMatchObject({ name: 'paris', level: 'ok' });
      expect(creds.find((x) => x.kind === 'apns')).toMatchObject({ name: 'push', level: 'warning', daysLeft: 10, topic: `com.apple.mgmt.External.${TOPIC}` });
      expect(creds.find((x) => x.kind === 'vpp')).toMatchObject({ name: 'paris-campus', level: 'ok', location: 'Paris campus', daysLeft: 199 });

      const metrics = await (await request(`${c.url}/metrics`)).body.text();
      const seconds = Math.floor(apnsExpiry.getTime() / 1000);
      expect(metrics).toMatch(new RegExp(`depctl_credential_expiry_timestamp_seconds\\{kind="apns",name="push"\\} ${seconds}`));
      expect(metrics).toMatch(/depctl_credential_expiry_timestamp_seconds\{kind="vpp",name="paris-campus"\} \d+/);
      expect(metrics).toMatch(/depctl_credential_expiry_timestamp_seconds\{kind="dep-token",name="paris"\} \d+/);

      const page = await (await request(`${c.url}/`)).body.text();
      expect(page).toContain('data-testid="credential-apns-push" data-level="warning"');
      expect(page).toContain('Renew the existing certificate');

      await vi.waitFor(() => expect(received.filter((n) => n.kind === 'credential-expiry')).toHaveLength(1), { timeout: 10_000, interval: 25 });
      expect(received[0]).toMatchObject({ kind: 'credential-expiry', severity: 'warning', details: { credential: 'push', credentialKind: 'apns', daysLeft: 10, threshold: '14' } });

      // A second pass with nothing new sends nothing new.
      c.loop.trigger('manual');
      // A certificate created instead of renewed (another topic) is refused; the recorded topic stays.
      await writeFile(join(ws.secretsDir, 'apns', 'push.pem'), pushCertificatePem('ffffffff-0000-4000-8000-000000000002', new Date(now.getTime() + 365 * DAY)));
      c.loop.trigger('manual');
      await vi.waitFor(async () => expect((await status()).credentials?.find((x) => x.kind === 'apns')?.level).toBe('error'), { timeout: 20_000, interval: 25 });
      const refused = (await status()).credentials?.find((x) => x.kind === 'apns');
      expect(refused?.topic).toBe(`com.apple.mgmt.External.${TOPIC}`);
      expect(refused?.message).toContain('would stop answering');
      await vi.waitFor(() => expect(received.filter((n) => n.kind === 'credential-expiry')).toHaveLength(2), { timeout: 10_000, interval: 25 });
      expect(received[1]).toMatchObject({ severity: 'critical', details: { credential: 'push' } });
      // `depctl plan` shows the refused certificate with the renewal steps (text), and nothing in JSON.
      const plan = await ws.depctl(['plan', 'config']);
      expect(plan.stdout).toContain('Credentials:');
      expect(plan.stdout).toMatch(/ {2}error: apns push: the APNs certificate push was refused: its topic com\.apple\.mgmt\.External\.ffffffff/);
      expect(plan.stdout).toContain('Renew the existing certificate');
      expect(plan.stdout).not.toContain('paris-campus');
      const json = await ws.depctl(['plan', 'config', '--format', 'json']);
      expect(() => JSON.parse(json.stdout) as unknown).not.toThrow();
      const all = JSON.stringify(received) + logs.join('') + metrics + page + plan.stdout;
      expect(all).not.toContain('vpp-secret-token-value');
      expect(all).not.toContain('PRIVATE KEY');
    } finally {
      await c.stop();
    }
  });
});
