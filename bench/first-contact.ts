/**
 * First contact against the wire (DESIGN.md performance goals): `depctl plan` on an empty SQLite state,
 * compared with a floor, the least any client can do: one `GET /session` and every page of the full fetch
 * (`POST /server/devices`, limit 1000, with the cursor) pulled and `JSON.parse`d, nothing kept, written
 * with undici alone. Reports both walls, each process's CPU and the ratio depctl/floor, without latency and
 * with the simulator's per-request latency at 300 ms (Apple's order of magnitude), where the work must hide
 * under the wire (goal: ratio ≤ 1.5 without latency, ≤ 1.05 with it). Exits 1 when a depctl run fails or
 * exceeds the request lower bound (never on time).
 *
 * Three kinds of process, as bench/reconcile.ts: this orchestrator, the simulator (`--role sim`) and one
 * child per measured run (`--role floor`; depctl in bench/cli-child.mjs, the build under plain node), each
 * timed from after its first module loaded (depctl's own imports on its way are timed, as an operator waits
 * for them).
 * Run: `npx tsx bench/first-contact.ts [N...]` (default 100000; `--postgres`: depctl's state in a fresh schema per run
 * on BENCH_POSTGRES_URL, else DEPCTL_TEST_POSTGRES_URL, dropped after it); `BENCH_LATENCY_MAX=N` runs the 300 ms
 * rows only for sizes up to N devices (default 100000: a million devices at 300 ms is five minutes each).
 * Set BENCH_CPU_PROF=DIR to write a V8 CPU profile of each depctl run. BENCH_REPEAT=K runs each scenario K times
 * (the floor and depctl alternated, each run its own row) and prints the median and range of the ratio and of
 * depctl's CPU: on a shared machine one run says little.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerToken } from '../controller/dep/types.js';
import { depctlNodeFlags, machineLine, runCliChild, runRoleChild, startSimChild as forkSim, type SimChannel, type SimReply } from './children.js';
import { benchPostgresUrl, postgresBackend, sqliteBackend } from './state-backends.js';

const self = fileURLToPath(import.meta.url);
const SEED = 42;
const PAGE = 1000;
const LATENCY_MS = 300;

interface SimReady { type: 'ready'; url: string; token: ServerToken; seedMs: number }
/** One measured run. */
interface RunDone { type: 'done'; code: number; wallMs: number; cpuMs: number; maxRssMiB: number; devices: number; tail: string }

// ---------------------------------------------------------------- simulator child
async function simRole(devices: number): Promise<void> {
  const { startSimulator } = await import('../controller/sim/index.js');
  const t0 = performance.now();
  const sim = await startSimulator({ devices, seed: SEED });
  const seedMs = performance.now() - t0;
  const send = (m: SimReady | SimReply): boolean => process.send!(m);
  process.on('message', (m: { id: number; op: string; latencyMs?: number }) => {
    let value: unknown = null;
    if (m.op === 'counts') value = sim.inspect.requestCounts();
    else if (m.op === 'reset') value = sim.inspect.resetRequestCounts();
    else if (m.op === 'cpu') value = process.cpuUsage();
    else if (m.op === 'latency') {
      if (m.latencyMs) sim.injectFaults({ latencyMs: m.latencyMs });
      else sim.clearFaults();
    } else if (m.op === 'close') {
      void sim.close().then(() => { send({ type: 'reply', id: m.id, value: null }); process.disconnect(); });
      return;
    }
    send({ type: 'reply', id: m.id, value });
  });
  send({ type: 'ready', url: sim.url, token: sim.token, seedMs });
}

// ---------------------------------------------------------------- floor child
/** The least a client can do: a session, then every page fetched and parsed in turn, nothing kept. */
async function floorRole(url: string, token: ServerToken): Promise<void> {
  const { Agent, request } = await import('undici');
  const { sessionAuthorizationHeader } = await import('../controller/dep/oauth1.js');
  const { bodyText } = await import('../controller/dep/http.js');
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 4 });
  const headers = { 'User-Agent': 'first-contact-bench/1', 'X-Server-Protocol-Version': '10', 'Content-Type': 'application/json;charset=UTF8', Accept: 'application/json;charset=UTF8' };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const authorization = sessionAuthorizationHeader({ url: `${url}/session`, token, timestamp: Math.floor(Date.now() / 1000), nonce: randomBytes(16).toString('hex') });
  const s = await request(`${url}/session`, { dispatcher: agent, headers: { ...headers, Authorization: authorization } });
  const session = (JSON.parse(await s.body.text()) as { auth_session_token: string }).auth_session_token;
  let cursor: string | undefined;
  let devices = 0;
  for (;;) {
    const res = await request(`${url}/server/devices`, {
      method: 'POST',
      dispatcher: agent,
      headers: { ...headers, 'X-ADM-Auth-Session': session },
      body: JSON.stringify(cursor ? { cursor, limit: PAGE } : { limit: PAGE }),
    });
    // Decoded as depctl decodes (an ASCII body as Latin-1), so the floor stays the least a client can do:
    // undici's text() decodes UTF-8 at about six times the cost.
    const page = JSON.parse(bodyText(Buffer.from(await res.body.arrayBuffer()))) as { cursor?: string; more_to_follow?: boolean; devices?: unknown[] };
    devices += page.devices?.length ?? 0;
    if (!page.more_to_follow) break;
    cursor = page.cursor;
  }
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  await agent.close();
  const done: RunDone = { type: 'done', code: 0, wallMs, cpuMs: (c.user + c.system) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, devices, tail: '' };
  process.send!(done, () => process.disconnect());
}

// ---------------------------------------------------------------- orchestrator
function runChild(args: string[], env: Record<string, string> = {}, cwd = process.cwd()): Promise<RunDone> {
  // The same node flags as depctl's runs, so that the floor is not handicapped by a smaller young generation.
  return runRoleChild<RunDone>(self, args, env, cwd, undefined, depctlNodeFlags());
}

/** `depctl ARGS` in bench/cli-child.mjs (the build under plain node, see runCliChild), as a RunDone. */
async function runDepctl(args: string[], env: Record<string, string>, cwd: string): Promise<RunDone> {
  const d = await runCliChild(args, env, cwd, process.env['BENCH_CPU_PROF']);
  return { type: 'done', code: d.code, wallMs: d.wallMs, cpuMs: d.cpuMs, maxRssMiB: d.maxRssMiB, devices: -1, tail: (d.stdoutTail + d.stderr).slice(-2000) };
}

function startSimChild(devices: number): Promise<{ channel: SimChannel; ready: SimReady; child: ChildProcess }> {
  return forkSim<SimReady>(self, devices);
}

/** One profile and one match rule, as bench/reconcile.ts builds them. */
const CONFIG: Record<string, string> = {
  'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: main }
spec:
  token: { file: main/token.p7m }
  privateKey: { file: main/key.pem }
`,
  'profiles.yaml': `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [main]
  profile:
    profile_name: Classroom iPads
    url: https://mdm.example.com/enroll
    is_supervised: true
    department: Classrooms
`,
  'assignments.yaml': `apiVersion: depctl/v1
kind: Assignment
metadata: { name: all-ipads }
spec:
  profile: ipads
  match: { device_family: [iPad] }
`,
};

interface Row { scenario: string; latencyMs: number; floor: RunDone; depctl: RunDone; floorSimCpuMs: number; depctlSimCpuMs: number; problems: string[] }

async function benchSize(n: number, withLatency: boolean, pgUrl: string | undefined): Promise<Row[]> {
  const { encryptServerToken, generateKeyPair } = await import('../controller/tokens/index.js');
  const { channel, ready, child } = await startSimChild(n);
  const root = await mkdtemp(join(tmpdir(), 'first-contact-bench-'));
  const rows: Row[] = [];
  try {
    const cfg = join(root, 'config');
    const secrets = join(root, 'secrets', 'main');
    await mkdir(cfg, { recursive: true });
    await mkdir(secrets, { recursive: true, mode: 0o700 });
    const { privateKeyPem, certificatePem } = generateKeyPair({ commonName: 'depctl-bench' });
    await writeFile(join(secrets, 'key.pem'), privateKeyPem, { mode: 0o600 });
    await chmod(join(secrets, 'key.pem'), 0o600);
    await writeFile(join(secrets, 'token.p7m'), encryptServerToken(ready.token, certificatePem));
    for (const [f, text] of Object.entries(CONFIG)) await writeFile(join(cfg, f), text);
    console.log(`simulator: ${n.toLocaleString('en-US')} devices seeded in ${(ready.seedMs / 1000).toFixed(1)} s; workspace ${root}`);
    printHeader(n, pgUrl ? 'PostgreSQL' : 'SQLite');

    const simCpu = async (): Promise<number> => { const c = await channel.call<NodeJS.CpuUsage>('cpu'); return (c.user + c.system) / 1000; };
    let runs = 0;
    for (const latencyMs of withLatency ? [0, LATENCY_MS] : [0]) {
      await channel.call('latency', { latencyMs });
      const repeated: Row[] = [];
      for (let rep = 0; rep < repeat; rep++) {
        const problems: string[] = [];
        // The floor: its own process, nothing but undici and JSON.parse.
        await channel.call('reset');
        let c0 = await simCpu();
        const floor = await runChild(['--role', 'floor', ready.url, JSON.stringify(ready.token)]);
        const floorSimCpuMs = (await simCpu()) - c0;
        if (floor.devices !== n) problems.push(`floor fetched ${floor.devices} devices, expected ${n}`);
        // depctl plan on an empty state (a fresh SQLite file or PostgreSQL schema per run).
        const state = pgUrl ? postgresBackend(pgUrl, `depctl_first_contact_${process.pid}_${runs}`) : sqliteBackend(`state-${runs}.db`);
        runs++;
        await channel.call('reset');
        c0 = await simCpu();
        const env = { DEPCTL_DEP_URL: ready.url, DEPCTL_STATE: state.url(root), DEPCTL_SECRETS_DIR: join(root, 'secrets'), NO_COLOR: '1' };
        const depctl = await runDepctl(['plan', 'config', '--no-color'], env, root).finally(() => state.drop());
        const depctlSimCpuMs = (await simCpu()) - c0;
        const counts = await channel.call<Record<string, number>>('counts');
        // `plan` exits 0 (no changes) or 2 (changes to apply), as `terraform plan -detailed-exitcode`; anything else failed.
        if (depctl.code !== 0 && depctl.code !== 2) problems.push(`depctl plan exit ${depctl.code}: ${depctl.tail.trim().split('\n').slice(-3).join(' | ')}`);
        const bounds: Record<string, number> = { 'GET /session': 1, 'GET /account': 1, 'POST /server/devices': Math.max(1, Math.ceil(n / PAGE)) };
        for (const [k, v] of Object.entries(counts)) if (v > (bounds[k] ?? 0)) problems.push(`${k}: ${v} requests > lower bound ${bounds[k] ?? 0}`);
        const row: Row = { scenario: latencyMs ? `first contact, ${latencyMs} ms latency` : 'first contact', latencyMs, floor, depctl, floorSimCpuMs, depctlSimCpuMs, problems };
        rows.push(row);
        repeated.push(row);
        printRow(row);
      }
      if (repeat > 1) printSpread(repeated);
    }
    await channel.call('close');
  } finally {
    if (child.exitCode === null) child.kill();
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

const sec = (ms: number): string => (ms / 1000).toFixed(2);

/** Runs per scenario (BENCH_REPEAT, default 1). */
const repeat = Math.max(1, Math.trunc(Number(process.env['BENCH_REPEAT'] ?? 1)) || 1);

/** The median and range of the ratio and of depctl's CPU over a scenario's repeated runs. */
function printSpread(rows: readonly Row[]): void {
  const spread = (values: number[], fmt: (x: number) => string): string => {
    const v = [...values].sort((a, b) => a - b);
    const mid = v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
    return `median ${fmt(mid)} (${fmt(v[0]!)}–${fmt(v[v.length - 1]!)})`;
  };
  const ratios = rows.map((r) => r.depctl.wallMs / r.floor.wallMs);
  console.log(`  ${rows[0]?.scenario ?? ''}, ${rows.length} runs: wall ratio ${spread(ratios, (x) => x.toFixed(3))}, depctl CPU s ${spread(rows.map((r) => r.depctl.cpuMs), sec)}`);
}

function printHeader(n: number, backend: string): void {
  console.log(`\nfirst contact, ${n.toLocaleString('en-US')} devices: the floor and depctl plan (empty ${backend} state), each in its own process, the simulator in another`);
  console.log('scenario                          floor wall s  floor CPU s  depctl wall s  depctl CPU s  depctl RSS MiB  wall ratio  goal');
}

function printRow(r: Row): void {
  const ratio = r.depctl.wallMs / r.floor.wallMs;
  const goal = r.latencyMs > 0 ? 1.05 : 1.5;
  console.log(
    `${r.scenario.padEnd(32)}  ${sec(r.floor.wallMs).padStart(12)}  ${sec(r.floor.cpuMs).padStart(11)}  ${sec(r.depctl.wallMs).padStart(13)}  ${sec(r.depctl.cpuMs).padStart(12)}  ${r.depctl.maxRssMiB.toFixed(0).padStart(14)}  ${ratio.toFixed(3).padStart(10)}  ≤ ${goal} ${ratio <= goal ? 'met' : 'missed'}`,
  );
  console.log(`  simulator CPU s: floor run ${sec(r.floorSimCpuMs)}, depctl run ${sec(r.depctlSimCpuMs)}`);
  for (const p of r.problems) console.log(`  FAIL: ${p}`);
}

const roleAt = process.argv.indexOf('--role');
const role = roleAt >= 0 ? process.argv[roleAt + 1] : undefined;
if (role === 'sim') await simRole(Number(process.argv[roleAt + 2]));
else if (role === 'floor') await floorRole(process.argv[roleAt + 2]!, JSON.parse(process.argv[roleAt + 3]!) as ServerToken);
else {
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
  const latencyMax = Number(process.env['BENCH_LATENCY_MAX'] ?? 100_000);
  const onPostgres = process.argv.includes('--postgres');
  const pgUrl = onPostgres ? benchPostgresUrl() : undefined;
  console.log(machineLine());
  let failed = false;
  if (onPostgres && !pgUrl) console.log('first contact on PostgreSQL: skipped (set BENCH_POSTGRES_URL or DEPCTL_TEST_POSTGRES_URL)');
  for (const n of onPostgres && !pgUrl ? [] : sizes.length ? sizes : [100_000]) {
    const rows = await benchSize(n, n <= latencyMax, pgUrl);
    // Informational only: time never fails the bench (the machine may be shared).
    failed ||= rows.some((r) => r.problems.length > 0);
  }
  process.exitCode = failed ? 1 : 0;
}
