/**
 * The crash soak (issue 18, part 6): a real `depctl run` applies a large change against the simulator while
 * Apple misbehaves (503s, THROTTLED serials, expired sessions) and is killed with SIGKILL at chosen moments:
 * just before Apple carries out a call, just after (before the answer leaves), while the answer is being
 * recorded, and at random times (start-up, git, store transactions). On PostgreSQL its connections are also
 * cut with `pg_terminate_backend`. Each time it is restarted on the same state and work directory. A second
 * revision (new profile content, a serial list moving Macs to another profile) is pushed half-way.
 *
 * After the last restart it must converge, and then the state is checked against what the simulator saw:
 * - the simulator's write log and the audit log agree call for call: every write Apple carried out had its
 *   intent audited before the call; every audited outcome is one Apple gave; every define is audited;
 * - no profile content was defined twice;
 * - no device was ever assigned a profile that no revision wanted for it;
 * - every notification was delivered, once per key (the receiver may see an id again only after a kill between
 *   its answer and the outbox marking the row sent; such repeats carry the same id and are counted apart);
 *   every partial run stored has its notification;
 * - the end state converges: every device carries the profile the last revision wants, the plan is empty;
 * - the controller never exits by itself (a cut database connection or an Apple fault is ridden out).
 *
 * `npm run soak` runs the full version and prints the figures; test/integration/soak.test.ts a short one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { request } from 'undici';
import type { Device } from '../../controller/dep/types.js';
import { startSimulator, type RunningSimulator, type SimCallEvent } from '../../controller/sim/index.js';
import { openStore, type AuditRecord, type Store } from '../../controller/store/index.js';
import { MAIN_SERVER_YAML } from '../helpers/config-yaml.js';
import { makeControllerDir, pushConfig } from '../helpers/controller-process.js';
import { checkAudit, checkContent, checkNotifications, checkWanted, type Delivery, type ProfileFacts } from './checks.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** What to run. */
export interface SoakOptions {
  /** `sqlite` or a PostgreSQL URL (`postgres://…`). */
  store: 'sqlite' | string;
  devices: number;
  kills: number;
  seed: number;
  /** Progress lines (one per kill and phase). */
  log?: (line: string) => void;
  /** Time allowed for the final convergence (default 180 s). */
  convergeTimeoutMs?: number;
  /** Keep the working directory (for a look at the controller's log). */
  keep?: boolean;
  /**
   * Controllers running at once (PostgreSQL only; default 1). With 2 every kill hits the current leader and the
   * other replica takes over (`--leader-retry-interval 1s`) while the killed one restarts: failover at any moment.
   */
  replicas?: number;
}

/** What a soak found. */
export interface SoakReport {
  store: string;
  seed: number;
  devices: number;
  /** Controllers running at once (failover on every kill when 2). */
  replicas: number;
  killsSurvived: number;
  killsByMoment: Record<string, number>;
  /** Controller exits nobody asked for (a crash), restarted like a kill. */
  unplannedExits: number;
  connectionsCut: number;
  faultsInjected: Record<string, number>;
  /** Writes in the simulator's log, each checked against the audit log. */
  callsChecked: number;
  /** Per-serial results in those writes. */
  serialResultsChecked: number;
  auditRowsChecked: number;
  /** Writes Apple carried out whose answer a kill lost (their intent is audited; the next sync shows them). */
  answersLostAtKills: number;
  definesByContent: number;
  notificationsDelivered: number;
  /** Deliveries of an id already delivered (a kill between the receiver's answer and the row marked sent). */
  redeliveriesSameId: number;
  convergedInMs: number;
  violations: string[];
  workDir: string;
}

/** Seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


/** Profile keys as the simulator stores them: `profile_name|department`. */
const IPADS_A = 'iPads|Soak A';
const IPADS_B = 'iPads|Soak B';
const MACS = 'Macs|Soak';
const LAB_MACS = 'Lab Macs|Soak';
/** The depctl profile name of each `profile_name` (the audit's `(new NAME)` intents). */
const DEPCTL_NAME: Record<string, string> = { iPads: 'ipads', Macs: 'macs', 'Lab Macs': 'lab-macs' };

function profileYaml(name: string, profileName: string, department: string): string {
  return `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ${name} }
spec:
  servers: [main]
  profile: { profile_name: "${profileName}", url: "https://mdm.example.com/enroll", is_supervised: true, department: "${department}" }
`;
}

function matchYaml(name: string, profile: string, family: string): string {
  return `apiVersion: depctl/v1
kind: Assignment
metadata: { name: ${name} }
spec:
  profile: ${profile}
  match: { device_family: [${family}] }
`;
}

/** Revision A: iPads and Macs by family. Revision B: new iPad content, and `lab` Macs listed to another profile. */
function revisionFiles(rev: 'A' | 'B', lab: readonly string[]): Record<string, string> {
  const files: Record<string, string> = {
    'servers.yaml': MAIN_SERVER_YAML,
    'ipads.yaml': `${profileYaml('ipads', 'iPads', rev === 'A' ? 'Soak A' : 'Soak B')}---\n${matchYaml('all-ipads', 'ipads', 'iPad')}`,
    'macs.yaml': `${profileYaml('macs', 'Macs', 'Soak')}---\n${matchYaml('all-macs', 'macs', 'Mac')}`,
  };
  if (rev === 'B') {
    files['lab.yaml'] = `${profileYaml('lab-macs', 'Lab Macs', 'Soak')}---\napiVersion: depctl/v1\nkind: Assignment\nmetadata: { name: lab }\nspec:\n  profile: lab-macs\n  serialFiles: [lab.csv]\n`;
    files['lab.csv'] = `Serial Number\n${lab.join('\n')}\n`;
  }
  return files;
}

/** The profile key a revision wants for a device, or null for none. */
function wantedKey(rev: 'A' | 'B', family: string, serial: string, lab: ReadonlySet<string>): string | null {
  if (family === 'iPad') return rev === 'A' ? IPADS_A : IPADS_B;
  if (family === 'Mac') return rev === 'B' && lab.has(serial) ? LAB_MACS : MACS;
  return null;
}

/** A webhook receiver: records each delivery; answers 503 while `up` is false. */
interface Receiver {
  url: string;
  up: boolean;
  deliveries: Delivery[];
  refused: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!state.up) {
        state.refused++;
        res.writeHead(503).end();
        return;
      }
      const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; kind: string; server: string | null; details: Record<string, unknown> };
      state.deliveries.push({ id: j.id, kind: j.kind, server: j.server, details: j.details });
      res.writeHead(200).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const state: Receiver = {
    url: `http://127.0.0.1:${port}/hook`,
    up: true,
    deliveries: [],
    refused: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return state;
}

/** One `depctl run` child. */
interface Controller {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The exit code once it exited. */
  exitCode: number | null | undefined;
  /** The status URL once the controller printed it. */
  url: () => string | null;
  killed: boolean;
}

/** `GET /api/status` of a controller, or null while it cannot answer. */
async function statusOf(c: Controller): Promise<{ leader: boolean; lastAppliedRevision: string | null; conditions: Array<{ type: string; status: string; reason: string }> } | null> {
  const url = c.url();
  if (!url || c.exitCode !== undefined) return null;
  try {
    const res = await request(`${url}/api/status`, { headersTimeout: 2000, bodyTimeout: 2000 });
    return (await res.body.json()) as { leader: boolean; lastAppliedRevision: string | null; conditions: Array<{ type: string; status: string; reason: string }> };
  } catch {
    return null;
  }
}

function isWrite(e: SimCallEvent): boolean {
  return (e.path === '/profile' && e.method === 'POST') || e.path === '/profile/devices';
}

const MOMENTS = ['before-write', 'after-write', 'recording-answer', 'any-call', 'random-time'] as const;
type Moment = (typeof MOMENTS)[number];

/** Runs one soak and returns its figures; never throws for a violation (they are listed). */
export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const random = rng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const isPg = opts.store !== 'sqlite';
  if (!existsSync(join(root, 'dist/main.js'))) throw new Error('run `npm run build` first: the soak runs bin/depctl.js');

  // The trigger of the current kill, checked by the simulator's call hook (synchronously, inside the request).
  let onCall: ((e: SimCallEvent) => void) | null = null;
  const sim: RunningSimulator = await startSimulator({ devices: 0, seed: opts.seed, onCall: (e) => onCall?.(e) });
  const families = new Map<string, string>();
  const fleet: Array<Partial<Device>> = [];
  for (let i = 0; i < opts.devices; i++) {
    const r = random();
    fleet.push(r < 0.55 ? { device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' } : r < 0.9 ? { device_family: 'Mac', os: 'OSX', model: 'MacBook Air' } : { device_family: 'iPhone', os: 'iOS', model: 'iPhone 16' });
  }
  for (const d of sim.portal.addDevices(fleet)) families.set(d.serial_number, d.device_family ?? '?');
  const serials = [...families.keys()];
  const macs = serials.filter((s) => families.get(s) === 'Mac');
  const lab = macs.filter(() => random() < 0.15);
  const labSet = new Set(lab);
  const ipads = serials.filter((s) => families.get(s) === 'iPad');

  const dir = await makeControllerDir('depctl-soak-', sim.token);
  const push = (rev: 'A' | 'B'): Promise<string> => pushConfig(dir, revisionFiles(rev, lab), `soak revision ${rev}`);
  const revisions: Array<{ rev: 'A' | 'B'; commit: string }> = [{ rev: 'A', commit: await push('A') }];

  const schema = `soak_${process.pid}_${Date.now()}`;
  const state = isPg ? `${opts.store}${opts.store.includes('?') ? '&' : '?'}schema=${schema}` : `sqlite:${join(dir, 'state.db')}`;
  const admin = isPg ? new pg.Pool({ connectionString: opts.store, max: 1 }) : null;
  const receiver = await startReceiver();
  const logFile: WriteStream = createWriteStream(join(dir, 'controller.log'), { flags: 'a' });
  const report: SoakReport = {
    store: isPg ? 'postgres' : 'sqlite',
    seed: opts.seed,
    devices: opts.devices,
    replicas: isPg ? Math.max(1, opts.replicas ?? 1) : 1,
    killsSurvived: 0,
    killsByMoment: Object.fromEntries(MOMENTS.map((m) => [m, 0])),
    unplannedExits: 0,
    connectionsCut: 0,
    faultsInjected: { http503: 0, expiredSessions: 0, throttledSerials: 0, receiverDownRuns: 0, devicesArrived: 0, profilesRemovedInPortal: 0 },
    callsChecked: 0,
    serialResultsChecked: 0,
    auditRowsChecked: 0,
    answersLostAtKills: 0,
    definesByContent: 0,
    notificationsDelivered: 0,
    redeliveriesSameId: 0,
    convergedInMs: 0,
    violations: [],
    workDir: dir,
  };

  const replicas = isPg ? Math.max(1, opts.replicas ?? 1) : 1;
  const start = (n: number, slot = 0): Controller => {
    const args = ['run', '--repo', join(dir, 'config.git'), '--branch', 'main', '--listen', '127.0.0.1:0', '--work-dir', join(dir, slot === 0 ? 'checkout' : `checkout-${slot}`), '--state', state, '--secrets-dir', join(dir, 'secrets'), '--poll-interval', '5s', '--notify-url', receiver.url, '--log-format', 'json'];
    if (replicas > 1) args.push('--leader-retry-interval', '1s');
    const child = spawn(process.execPath, [join(root, 'bin/depctl.js'), ...args], { cwd: dir, env: { ...process.env, DEPCTL_DEP_URL: sim.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let url: string | null = null;
    let head = '';
    logFile.write(`\n===== controller start ${n} (replica ${slot}) =====\n`);
    child.stdout?.on('data', (c: Buffer) => {
      logFile.write(c);
      if (url === null) {
        head += c.toString();
        url = /status page (http:\/\/[^/\s"]+)\//.exec(head)?.[1] ?? null;
        if (head.length > 65536) head = head.slice(-4096);
      }
    });
    child.stderr?.on('data', (c: Buffer) => logFile.write(c));
    const c: Controller = { child, exited: Promise.resolve(null), exitCode: undefined, url: () => url, killed: false };
    c.exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        c.exitCode = code;
        resolve(code);
      }),
    );
    return c;
  };
  // The running replicas; a killed one is restarted at the start of the next round.
  const slots: Array<Controller | null> = Array.from({ length: replicas }, () => null);
  let starts = 0;
  const fillSlots = (): void => {
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (s && s.exitCode !== undefined && !s.killed) {
        report.unplannedExits++;
        report.violations.push(`replica ${i} exited by itself (code ${s.exitCode}) instead of riding out the faults; see controller.log`);
      }
      if (!s || s.exitCode !== undefined) slots[i] = start(++starts, i);
    }
  };
  /** The replica that leads now (asked for up to `waitMs`), or a random one when none says so in time. */
  const leaderSlot = async (waitMs: number): Promise<number> => {
    if (slots.length === 1) return 0;
    const until = Date.now() + waitMs;
    for (;;) {
      const statuses = await Promise.all(slots.map((c) => (c ? statusOf(c) : null)));
      const i = statuses.findIndex((st) => st?.leader === true);
      if (i >= 0) return i;
      if (Date.now() >= until) return Math.floor(random() * slots.length);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill = (c: Controller): void => {
    if (c.killed) return;
    c.killed = true;
    c.child.kill('SIGKILL');
  };
  // Only the soak's own controllers lose their connections, never another process's on the same database
  // (tests running beside it, a benchmark): their backends are found by the client ports those processes hold.
  const pgPort = isPg ? Number(new URL(opts.store).port || 5432) : 0;
  const cutConnections = async (): Promise<void> => {
    if (!admin) return;
    const pids = slots.flatMap((x) => (x && x.exitCode === undefined && x.child.pid !== undefined ? [x.child.pid] : []));
    const ports = await clientPortsTo(pids, pgPort);
    if (ports.length === 0) return;
    const r = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY($1::int[])', [ports]);
    if ((r.rowCount ?? 0) > 0) report.connectionsCut++;
  };

  try {
    // ---------------------------------------------------------------- kills
    const throttled = ipads.filter(() => random() < 0.02).concat(macs.filter(() => random() < 0.02));
    sim.injectFaults({ throttledSerials: { serials: throttled, retryAfterSeconds: 2 } });
    report.faultsInjected['throttledSerials'] = throttled.length;
    for (let k = 1; k <= opts.kills; k++) {
      if (k === Math.ceil(opts.kills / 2)) {
        revisions.push({ rev: 'B', commit: await push('B') });
        log(`kill ${k}: pushed revision B ${revisions[1]!.commit.slice(0, 12)}`);
      }
      if (k === Math.ceil((opts.kills * 3) / 4)) {
        sim.clearFaults();
        log(`kill ${k}: THROTTLED serials cleared`);
      }
      // Work for this run beyond the revisions: devices arriving, and profiles removed in the portal (drift).
      if (k > 1) {
        const arriving: Array<Partial<Device>> = Array.from({ length: Math.floor(random() * 300) }, () => (random() < 0.6 ? { device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' } : { device_family: 'Mac', os: 'OSX', model: 'MacBook Air' }));
        for (const d of sim.portal.addDevices(arriving)) {
          families.set(d.serial_number, d.device_family ?? '?');
          serials.push(d.serial_number);
        }
        const cleared = serials.filter(() => random() < 0.01).filter((x) => sim.inspect.device(x)?.profile_uuid);
        for (const x of cleared) sim.portal.setProfile(x, null);
        report.faultsInjected['devicesArrived']! += arriving.length;
        report.faultsInjected['profilesRemovedInPortal']! += cleared.length;
      }
      receiver.up = random() >= 0.1;
      if (!receiver.up) report.faultsInjected['receiverDownRuns']!++;
      if (random() < 0.4) {
        sim.injectFaults({ httpStatus: { status: 503, count: 1 + Math.floor(random() * 3), ...(random() < 0.5 ? { path: pick(['/profile/devices', '/server/devices', '/devices/sync', '/profile']) } : {}) } });
        report.faultsInjected['http503']!++;
      }
      const moment: Moment = pick(MOMENTS);
      fillSlots();
      // With replicas, the kill hits the leader: the one writing to Apple and the store.
      const target = await leaderSlot(4000);
      const c = slots[target]!;
      const timers: NodeJS.Timeout[] = [];
      if (random() < 0.3) {
        timers.push(
          setTimeout(() => {
            sim.injectFaults({ expireSessions: {} });
            report.faultsInjected['expiredSessions']!++;
          }, 300 + random() * 3000),
        );
      }
      if (isPg && random() < 0.4) timers.push(setTimeout(() => void cutConnections().catch(() => undefined), 100 + random() * 1500));
      // Where the kill lands. Call-based moments count matching calls from now; a moment whose call never
      // comes (nothing left to write) falls back to a random time.
      let left = 1 + Math.floor(random() * (moment === 'any-call' ? 10 : 3));
      const fallbackMs = 1500 + random() * 6000;
      let landed: Moment | null = null;
      onCall = (e) => {
        const want = moment === 'before-write' ? e.phase === 'received' && isWrite(e) : moment === 'after-write' || moment === 'recording-answer' ? e.phase === 'handled' && isWrite(e) : moment === 'any-call' ? e.phase === (random() < 0.5 ? 'received' : 'handled') : false;
        if (!want || --left > 0) return;
        onCall = null;
        if (moment === 'recording-answer') timers.push(setTimeout(() => ((landed = moment), kill(c)), random() * 40));
        else {
          landed = moment;
          kill(c);
        }
      };
      timers.push(
        setTimeout(
          () => {
            onCall = null;
            landed ??= 'random-time';
            kill(c);
          },
          moment === 'random-time' ? 200 + random() * 4000 : fallbackMs,
        ),
      );
      const code = await c.exited;
      slots[target] = null;
      onCall = null;
      for (const t of timers) clearTimeout(t);
      if (c.killed) {
        report.killsSurvived++;
        report.killsByMoment[landed ?? moment]!++;
      } else {
        report.unplannedExits++;
        report.violations.push(`round ${k}: replica ${target} exited by itself (code ${code}) instead of riding out the faults; see controller.log`);
        log(`kill ${k}: the controller exited by itself (code ${code}); see ${join(dir, 'controller.log')}`);
      }
      log(`kill ${k}/${opts.kills}: ${landed ?? 'exit'}; Apple writes so far ${sim.inspect.writes().length}`);
    }

    // ---------------------------------------------------------------- converge
    sim.clearFaults();
    receiver.up = true;
    const head = revisions[revisions.length - 1]!;
    const finalRev = head.rev;
    const t0 = Date.now();
    fillSlots();
    const deadline = t0 + (opts.convergeTimeoutMs ?? 180_000);
    let converged = false;
    let lastWhy = '';
    const checkStore = await openStore(state);
    try {
      while (Date.now() < deadline && !converged) {
        await new Promise((r) => setTimeout(r, 250));
        if (slots.some((x) => x?.exitCode !== undefined)) {
          report.violations.push(`a controller exited during the final convergence; see ${join(dir, 'controller.log')}`);
          break;
        }
        const statuses = await Promise.all(slots.map((x) => (x ? statusOf(x) : null)));
        const status = statuses.find((st) => st?.leader === true);
        if (!status) continue;
        const ready = status.conditions.find((x) => x.type === 'Ready');
        const wrong = serials.filter((s) => {
          const uuid = sim.inspect.device(s)?.profile_uuid;
          return (uuid ? (profileFacts(sim, uuid)?.key ?? null) : null) !== wantedKey(finalRev, families.get(s) ?? '?', s, labSet);
        });
        const unsent = await checkStore.countUnsentNotifications();
        lastWhy = `applied ${status.lastAppliedRevision?.slice(0, 12)}, Ready ${ready?.status}/${ready?.reason}, ${wrong.length} device(s) not as wanted, ${unsent} notification(s) unsent`;
        converged = status.lastAppliedRevision === head.commit && ready?.status === 'True' && wrong.length === 0 && unsent === 0;
      }
      report.convergedInMs = Date.now() - t0;
      if (!converged) report.violations.push(`did not converge in ${opts.convergeTimeoutMs ?? 180_000} ms: ${lastWhy}`);
      log(`final run: ${converged ? 'converged' : 'NOT converged'} in ${report.convergedInMs} ms (${lastWhy})`);
      for (const x of slots) x?.child.kill('SIGTERM');
      await Promise.all(slots.map((x) => x?.exited));

      // ---------------------------------------------------------------- checks
      const writes = sim.inspect.writes();
      const profileOf = (uuid: string): ProfileFacts | undefined => profileFacts(sim, uuid);
      const audit = await readAllAudit(checkStore);
      const a = checkAudit(writes, audit, profileOf);
      const c2 = checkContent(writes, profileOf);
      const w = checkWanted(writes, profileOf, (serial, key) => revisions.some((r) => wantedKey(r.rev, families.get(serial) ?? '?', serial, labSet) === key));
      const n = checkNotifications(receiver.deliveries, await checkStore.listRuns({ limit: 10_000 }), await checkStore.countUnsentNotifications());
      report.violations.push(...a.violations, ...c2.violations, ...w.violations, ...n.violations);
      Object.assign(report, { callsChecked: writes.length, serialResultsChecked: writes.reduce((n, x) => n + Object.keys(x.devices).length, 0), auditRowsChecked: audit.length, answersLostAtKills: a.answersLost, definesByContent: c2.contents, notificationsDelivered: n.delivered, redeliveriesSameId: n.sameIdAgain });
      // The plan reads the author's tree (`work`, at the pushed head), not a replica's checkout: a follower does
      // not sync the source, so with replicas slot 0's checkout may still hold an earlier revision.
      const plan = await runDepctl(['plan', join(dir, 'work'), '--detailed-exitcode', '--state', state, '--secrets-dir', join(dir, 'secrets')], { DEPCTL_DEP_URL: sim.url }, dir);
      if (plan.code !== 0) report.violations.push(`depctl plan after convergence exits ${plan.code} (0 = no changes): ${plan.out.slice(-2000)}`);
      else if (!plan.out.includes(`for commit ${head.commit.slice(0, 12)}`)) report.violations.push(`depctl plan after convergence did not plan the head commit ${head.commit.slice(0, 12)}: ${plan.out.slice(0, 500)}`);
    } finally {
      await checkStore.close();
    }
    return report;
  } finally {
    onCall = null;
    for (const x of slots) if (x && x.exitCode === undefined) x.child.kill('SIGKILL');
    await Promise.all(slots.map((x) => x?.exited));
    logFile.end();
    await receiver.close();
    await sim.close();
    if (admin) {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await admin.end();
    }
    if (!opts.keep && report.violations.length === 0) await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The local ports of the TCP connections that processes `pids` hold to `remotePort` (Linux: their socket
 * inodes from /proc/PID/fd matched in /proc/net/tcp and tcp6). Empty where /proc is not there.
 */
async function clientPortsTo(pids: readonly number[], remotePort: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
      if (m?.[1]) inodes.add(m[1]);
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, remote, inode] = [cols[1], cols[2], cols[9]];
      if (!local || !remote || !inode || !inodes.has(inode)) continue;
      if (Number.parseInt(remote.split(':').at(-1) ?? '', 16) !== remotePort) continue;
      ports.push(Number.parseInt(local.split(':').at(-1) ?? '', 16));
    }
  }
  return ports;
}

/** What the checks know of a profile the simulator holds. */
function profileFacts(sim: RunningSimulator, uuid: string): ProfileFacts | undefined {
  const p = sim.inspect.profile(uuid);
  if (!p) return undefined;
  const { profile_uuid: _uuid, devices: _devices, ...content } = p as unknown as Record<string, unknown>;
  return {
    key: `${p.profile_name}|${p.department ?? ''}`,
    depctlName: DEPCTL_NAME[p.profile_name] ?? '?',
    content: JSON.stringify(Object.fromEntries(Object.entries(content).sort(([x], [y]) => x.localeCompare(y)))),
  };
}

async function readAllAudit(store: Store): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (;;) {
    const page = await store.readAudit({ afterSeq: out.at(-1)?.seq ?? 0, limit: 5000 });
    if (page.length === 0) return out;
    out.push(...page);
  }
}

/** Runs depctl to its end (asynchronously: the simulator answering it lives in this process). */
async function runDepctl(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(root, 'bin/depctl.js'), ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out };
}

/** Prints a report as the figures table. */
export function formatReport(r: SoakReport): string {
  const lines = [
    `soak on ${r.store}: ${r.devices} devices, seed ${r.seed}${r.replicas > 1 ? `, ${r.replicas} replicas (every kill hits the leader)` : ''}`,
    `  kills survived: ${r.killsSurvived} (${Object.entries(r.killsByMoment).map(([k, v]) => `${k} ${v}`).join(', ')}); unplanned exits: ${r.unplannedExits}${r.store === 'postgres' ? `; connections cut: ${r.connectionsCut}` : ''}`,
    `  faults: ${Object.entries(r.faultsInjected).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  calls checked: ${r.callsChecked} Apple writes (${r.serialResultsChecked} serial results) against ${r.auditRowsChecked} audit rows; answers lost at kills: ${r.answersLostAtKills} serial results`,
    `  profile contents defined: ${r.definesByContent}; notifications delivered: ${r.notificationsDelivered} (same id again: ${r.redeliveriesSameId})`,
    `  converged ${r.convergedInMs} ms after the last restart`,
    `  violations: ${r.violations.length}`,
    ...r.violations.map((v) => `    - ${v}`),
  ];
  return lines.join('\n');
}
