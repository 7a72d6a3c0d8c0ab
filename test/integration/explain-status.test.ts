import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startController } from '../../controller/cli/run.js';
import { createLogger } from '../../controller/util/logger.js';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import type { Device } from '../../controller/dep/types.js';
import type { ExplainReport } from '../../controller/reconcile/explain.js';
import type { StatusReport } from '../../controller/cli/views/status-common.js';
import { MAIN_SERVER_DEFAULT_MACS_YAML } from '../helpers/config-yaml.js';
import { ipadRecords, macRecords, mainWorkspace, type Workspace } from '../helpers/workspace.js';
import { runDepctl } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { sampleStatus } from '../unit/server/sample-status.js';

const servers = MAIN_SERVER_DEFAULT_MACS_YAML;
const profiles = `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [main]
  profile: { profile_name: Classroom iPads, url: "https://mdm.example.com/enroll", is_supervised: true }
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: macs }
spec:
  servers: [main]
  profile: { profile_name: Staff Macs, url: "https://mdm.example.com/enroll" }
`;
const assignments = (serial: string): string => `apiVersion: depctl/v1
kind: Assignment
metadata: { name: carts }
spec:
  profile: ipads
  serials: [${serial}]
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: all-ipads }
spec:
  profile: ipads
  match: { device_family: [iPad] }
  priority: 10
`;

describe('depctl explain and depctl status against the simulator after a real apply', () => {
  let sim: RunningSimulator;
  let ws: Workspace;
  let ipads: Device[];
  let macs: Device[];

  beforeEach(async () => {
    sim = await startSimulator({ devices: 0, seed: 5 });
    ipads = sim.portal.addDevices(ipadRecords(3));
    macs = sim.portal.addDevices(macRecords(1));
    ws = await mainWorkspace(sim);
    await ws.commit({ 'servers.yaml': servers, 'profiles.yaml': profiles, 'assignments.yaml': assignments(ipads[0]!.serial_number) });
    const apply = await ws.depctl(['apply', 'config', '--yes']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  });

  afterEach(async () => {
    await sim.close();
    await ws.cleanup();
  });

  it('explains an explicit listing, a match rule and the default, with the history of the apply', async () => {
    const commit = git(ws.configDir, 'rev-parse', 'HEAD');
    const explicit = ipads[0]!.serial_number;
    const res = await ws.depctl(['explain', explicit.toLowerCase(), ipads[1]!.serial_number, macs[0]!.serial_number, '--config', 'config', '--format', 'json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as ExplainReport;
    const [a, b, c] = report.serials.map((s) => s.servers[0]!);
    const ipadsUuid = sim.inspect.device(explicit)?.profile_uuid;
    expect(a!.desired).toEqual({ kind: 'profile', profile: 'ipads', source: 'serial', assignment: 'carts', priority: null, defaultFamily: null, location: { file: 'assignments.yaml', line: 3, column: 19 } });
    // `depctl apply` does not sync afterwards: the store still holds what it observed before the assignment.
    expect(a!.stored).toMatchObject({ profile: null, profileStatus: 'empty' });
    expect(a!.retry).toMatchObject({ lastResult: { status: 'success', appleStatus: 'SUCCESS' }, attempts: 0, retryNotBefore: null, deferred: false });
    expect(b!.desired).toEqual({ kind: 'profile', profile: 'ipads', source: 'match', assignment: 'all-ipads', priority: 10, defaultFamily: null, location: { file: 'assignments.yaml', line: 10, column: 19 } });
    expect(c!.desired).toEqual({ kind: 'profile', profile: 'macs', source: 'default', assignment: null, priority: null, defaultFamily: null, location: { file: 'servers.yaml', line: 3, column: 19 } });
    // The first apply defined ipads with the device riding along: the intent before the define (UUID not known yet), then the outcome.
    expect(a!.history.more).toBe(0);
    expect(a!.history.entries.map((e) => [e.action, e.before, e.after, e.afterProfile, e.outcome, e.appleStatus, e.commit])).toEqual([
      ['assign', null, '(new ipads)', null, 'pending', null, commit],
      ['assign', null, ipadsUuid, 'ipads', 'success', 'SUCCESS', commit],
    ]);

    const text = await ws.depctl(['explain', explicit, '--config', 'config']);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([explicit, '  server main', '    should have:  "ipads": listed in Assignment "carts" (config/assignments.yaml:3)']);
    expect(lines[3]).toMatch(/^ {4}Apple has: {4}no profile, profile_status empty, iPad Air \(iPadOS\); observed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((now|[\d.]+ s ago)\), before the last apply \(`depctl plan` or --live shows what Apple has now\)$/);
    const live = await ws.depctl(['explain', explicit, '--config', 'config', '--live']);
    expect(live.stdout).toMatch(new RegExp(`\n {4}Apple now: {4}"ipads" ${ipadsUuid}, profile_status assigned, iPad Air \\(iPadOS\\) \\(Apple's POST /devices\\)\n`));
    expect(text.stdout).toContain('    history:      2 audited writes, newest last\n');
    expect(text.stdout).toMatch(new RegExp(`run 1 @ ${commit.slice(0, 12)}  assign \\(none\\) → "ipads" ${ipadsUuid}  success \\(SUCCESS\\)`));
  });

  it('an unknown serial exits 1 and names the servers asked; --live asks Apple', async () => {
    const res = await ws.depctl(['explain', 'ZZZZ99999999', '--config', 'config']);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('ZZZZ99999999: not seen on any server (asked: main)\n');

    const live = await ws.depctl(['explain', ipads[2]!.serial_number, 'ZZZZ99999999', '--config', 'config', '--live', '--format', 'json']);
    expect(live.code).toBe(1);
    const report = JSON.parse(live.stdout) as ExplainReport;
    expect(report.live).toBe(true);
    expect(report.serials[0]!.servers[0]!.live).toMatchObject({ status: 'SUCCESS', device: { profile: { name: 'ipads', current: true }, profileStatus: 'assigned' } });
    expect(report.serials[1]!.servers[0]!.live).toEqual({ status: 'NOT_ACCESSIBLE', device: null });
    expect(live.stdout).not.toMatch(/consumer_secret|access_secret|BEGIN/);

    const usage = await ws.depctl(['explain', 'ZZZZ99999999', '--config', 'config', '--server', 'nope']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('depctl: --server nope: no MdmServer of that name in the config (servers: main)\n');
  });

  it('a throttled device is explained as deferred, and status from the store shows its next try', async () => {
    const [late] = sim.portal.addDevices([{ device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' }]);
    sim.injectFaults({ throttledSerials: { serials: [late!.serial_number], retryAfterSeconds: 600 } });
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(1);

    const res = await ws.depctl(['explain', late!.serial_number, '--config', 'config', '--format', 'json']);
    const s = (JSON.parse(res.stdout) as ExplainReport).serials[0]!.servers[0]!;
    expect(s.retry).toMatchObject({ lastResult: { status: 'throttled', appleStatus: 'THROTTLED' }, attempts: 0, deferred: true });
    expect(Date.parse(s.retry!.retryNotBefore!) - Date.now()).toBeGreaterThan(500_000);
    expect(s.arrivedAt).not.toBeNull();

    const status = await ws.depctl(['status', '--format', 'json']);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as StatusReport;
    expect(report.source).toEqual({ kind: 'store', backend: 'sqlite' });
    expect(report.controller).toBeNull();
    expect(report.servers.map((x) => [x.name, x.devices, x.devicesByProfile, x.deferred, x.retries?.map((r) => [r.lastStatus, r.attempts, r.count])])).toEqual([
      ['main', 5, { ipads: 3, macs: 1, '(none)': 1 }, 1, [['THROTTLED', 0, 1]]],
    ]);
    expect(report.recentRuns.map((r) => [r.id, r.trigger, r.result])).toEqual([[2, 'cli', 'partial'], [1, 'cli', 'success']]);

    const text = await ws.depctl(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('\nConditions: unknown (no controller asked; use --url)\nRevisions:  unknown (no controller asked; use --url)\n');
    expect(text.stdout).toMatch(/\n {2}deferred {8}1 serial\n {4}next try \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 10 min\) {2}after THROTTLED: 1 device\n/);
  });

  it('status --url renders a real controller: Ready, the applied revision, the server and its devices by profile', async () => {
    const commit = git(ws.configDir, 'rev-parse', 'HEAD');
    const logger = createLogger({ level: 'error', format: 'json', write: () => {} });
    const c = await startController(
      { repo: ws.configDir, branch: 'main', path: '.', pollInterval: 60_000, syncInterval: 60_000, listen: '127.0.0.1:0', workDir: join(ws.root, 'checkout'), allowLarge: false, logLevel: 'error', logFormat: 'json' },
      { stateUrl: `sqlite:${join(ws.root, 'controller.db')}`, secretsDir: ws.secretsDir, depUrlOverride: sim.url },
      { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} },
      logger,
    );
    try {
      await vi.waitFor(() => expect(c.loop.current().conditions.find((x) => x.type === 'Ready')?.status).toBe('True'), { timeout: 20_000, interval: 25 });
      const res = await runDepctl(['status', '--url', c.url]);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/\n {2}Ready {7}True {4}ReconciliationSucceeded/);
      expect(res.stdout).toContain(`\n  last applied    ${commit.slice(0, 12)}\n`);
      expect(res.stdout).toContain('\nServer main (');
      expect(res.stdout).toContain('\n  devices         4\n    ipads          3\n    macs           1\n');
      expect(res.stdout).toContain('\nRecent runs (newest first): id, started, took, trigger, commit, result, counts\n');
    } finally {
      await c.stop();
    }
  });
});

describe('depctl status --url', () => {
  let http: Server;
  let base: string;
  let body: string;
  let seenAuth: string | undefined;
  const now = new Date('2026-12-06T14:00:00Z');

  beforeEach(async () => {
    body = JSON.stringify(sampleStatus(now));
    http = createServer((req, res) => {
      seenAuth = req.headers.authorization;
      if (req.url === '/api/status') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else if (req.url === '/slow/api/status') {
        // Never answers: the client's timeout is what ends the request (not exercised: 10 s).
      } else {
        res.writeHead(404).end('not found');
      }
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it("renders a running controller's status: conditions, revisions, servers and runs", async () => {
    const res = await runDepctl(['status', '--url', base], { now: () => now });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines.slice(0, 5)).toEqual([
      `depctl status from the controller at ${base}/api/status, 2026-12-06 14:00:00 UTC`,
      'phase idle · leader · version 0.1.0',
      '',
      'Conditions:',
      '  Ready       False   PartialApply: revision 3f2a9c1d4e5b applied partly; deferred serials are retried at 14:05 (since 2026-12-06 13:40:00 UTC (20 min ago))',
    ]);
    expect(res.stdout).toContain('  last applied    3f2a9c1d4e5b\n');
    expect(res.stdout).toContain('    next try 2026-12-06 14:55:00 UTC (in 55 min)  after FAILED, 2 failed attempts: 3 devices\n');
    expect(res.stdout).toContain('  problem         terminal T_C_NOT_SIGNED: ');

    const json = JSON.parse((await runDepctl(['status', '--url', `${base}/api/status`, '--format', 'json'], { now: () => now })).stdout) as StatusReport;
    expect(json.source).toEqual({ kind: 'controller', url: `${base}/api/status` });
    expect(json.controller?.conditions.map((c) => c.reason)).toEqual(['PartialApply', 'Done', 'NotStalled']);
    expect(json.servers.map((s) => s.name)).toEqual(['paris', 'lyon']);
  });

  it('a wrong URL, a non-status body, an oversized body and a refused connection fail with exit 1, never echoing URL credentials', async () => {
    const missing = await runDepctl(['status', '--url', `${base}/nothing`]);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: `depctl: cannot read the controller's status at ${base}/nothing/api/status: HTTP 404\n` });
    body = '{"hello": "world"}';
    const other = await runDepctl(['status', '--url', base]);
    expect(other.stderr).toBe(`depctl: the answer of ${base}/api/status is not a depctl status (no conditions, servers and recentRuns)\n`);
    body = `"${'x'.repeat(5 * 1024 * 1024)}"`;
    const big = await runDepctl(['status', '--url', base]);
    expect(big.stderr).toBe(`depctl: the answer of ${base}/api/status is larger than 4 MiB; is this a depctl controller?\n`);
    // Credentials go as Basic auth, never into output; a closed port is refused.
    body = JSON.stringify(sampleStatus(now));
    const withCredentials = await runDepctl(['status', '--url', base.replace('http://', 'http://user:s3cret@'), '--format', 'json']);
    expect(withCredentials.code).toBe(0);
    expect(seenAuth).toBe(`Basic ${Buffer.from('user:s3cret').toString('base64')}`);
    expect(withCredentials.stdout).not.toContain('s3cret');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await runDepctl(['status', '--url', `http://user:s3cret@127.0.0.1:${port}`]);
    expect(refused).toEqual({ code: 1, stdout: '', stderr: `depctl: cannot read the controller's status at http://127.0.0.1:${port}/api/status: connect ECONNREFUSED 127.0.0.1:${port}\n` });
    const usage = await runDepctl(['status', '--url', 'ftp://example.com']);
    expect(usage).toEqual({ code: 2, stdout: '', stderr: 'depctl: --url ftp://example.com: only http and https URLs are supported\n' });
  });
});
