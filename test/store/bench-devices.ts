/**
 * Device-store benchmark (not part of `npm test`): bulk upsert N devices, re-upsert them (the
 * update path a sync takes), stream them back, record a result for every device (as a first apply
 * does), re-upsert them again (a sync after that apply), then time the status counts, reporting time
 * and RSS per phase. `arrivals` upserts as observe does after a server's first full fetch (every new serial is an arrival).
 *
 *   node --import tsx test/store/bench-devices.ts sqlite 1000000 [batch] [arrivals]
 *   DEPCTL_TEST_POSTGRES_URL=postgres://… node --import tsx test/store/bench-devices.ts postgres 100000
 *
 * Devices are generated one batch at a time (like Apple's fetch pages), so the numbers measure the
 * store, not a million objects held by the benchmark.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Device } from '../../controller/dep/types.js';
import { openStore } from '../../controller/store/open-store.js';
import type { DeviceResultStatus, DeviceResultUpdate, Store } from '../../controller/store/ports.js';

const [backend = 'sqlite', countArg = '100000', batchArg = '1000', option = ''] = process.argv.slice(2);
const count = Number(countArg);
const batch = Number(batchArg);

/**
 * Apple lists devices in the order of their last operation, so serials reach the store in random key
 * order: a multiplicative permutation (7919 is coprime with the counts used) scatters them.
 */
function serial(i: number): string {
  return `F${((i * 7919) % count).toString(36).toUpperCase().padStart(11, '0')}`;
}

function device(i: number, generation: number): Device {
  return {
    serial_number: serial(i),
    model: i % 3 === 0 ? 'MacBook Air (M2, 2022)' : 'iPad (10th generation)',
    description: i % 3 === 0 ? 'MBA 13.6 MDN SPG 8GB 256GB' : 'IPAD WI-FI 64GB BLUE',
    color: generation === 0 ? 'SPACE GRAY' : 'BLUE',
    asset_tag: `ASSET-${i}`,
    profile_status: generation === 0 ? 'empty' : 'assigned',
    ...(generation === 0 ? {} : { profile_uuid: '9B2DB3C5A2D1E0F8C7B6A5D4E3F2A1B0', profile_assign_time: '2026-01-10T09:00:00Z' }),
    device_assigned_date: '2025-09-01T12:00:00Z',
    device_assigned_by: 'purchasing@example.com',
    os: i % 3 === 0 ? 'OSX' : 'iPadOS',
    device_family: i % 3 === 0 ? 'Mac' : 'iPad',
  };
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MiB`;

async function upsertAll(store: Store, generation: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i += batch) {
    const page: Device[] = [];
    for (let j = i; j < Math.min(count, i + batch); j++) page.push(device(j, generation));
    // `arrivals`: as observe writes a later full fetch or a sync (new serials arrive), else as a first fetch.
    await store.upsertDevices('bench', page, new Date(), option === 'arrivals' ? { newArrive: true } : undefined);
  }
  return performance.now() - start;
}

/**
 * Records a result for every device in Apple's batches of 1,000, in serial order as plans list them: 3 in 5
 * succeed, the rest wait an hour.
 */
async function recordAll(store: Store): Promise<number> {
  const statuses: DeviceResultStatus[] = ['success', 'success', 'success', 'failed', 'throttled'];
  const at = new Date();
  const retry = new Date(at.getTime() + 3600_000);
  const sorted = Array.from({ length: count }, (_, j) => serial(j)).sort();
  const start = performance.now();
  for (let i = 0; i < count; i += 1000) {
    const results: DeviceResultUpdate[] = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) {
      const status = statuses[j % statuses.length]!;
      results.push({ serial: sorted[j]!, result: { status, at, appleStatus: null }, retryNotBefore: status === 'success' ? null : retry, desiredProfile: 'ipads' });
    }
    await store.recordResults('bench', results);
  }
  return performance.now() - start;
}

/** Runs `fn` and logs how long it took. */
async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const value = await fn();
  console.log(`${backend} ${label}: ${(performance.now() - start).toFixed(0)} ms`);
  return value;
}

async function main(): Promise<void> {
  let url: string;
  let cleanup: () => Promise<void>;
  let file: string | null = null;
  if (backend === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'depctl-bench-'));
    file = join(dir, 'state.db');
    url = `sqlite:${file}`;
    cleanup = () => rm(dir, { recursive: true, force: true });
  } else {
    const base = process.env.DEPCTL_TEST_POSTGRES_URL;
    if (!base) throw new Error('set DEPCTL_TEST_POSTGRES_URL');
    const schema = `depctl_bench_${randomBytes(4).toString('hex')}`;
    url = `${base}${base.includes('?') ? '&' : '?'}schema=${schema}`;
    cleanup = async () => {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    };
  }
  const store = await openStore(url);
  try {
    // CPU time (this process: JS + SQLite, not PostgreSQL's server) is reported next to wall time
    // because the shared 2-core machine makes wall time noisy.
    let cpu = process.cpuUsage();
    const report = (phase: string, ms: number): void => {
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      const rate = Math.round(count / (ms / 1000));
      console.log(
        `${backend} n=${count} batch=${batch} ${phase}: ${(ms / 1000).toFixed(2)} s wall (${rate}/s), ` +
          `${((used.user + used.system) / 1e6).toFixed(2)} s cpu, rss ${mib(process.memoryUsage().rss)}`,
      );
    };
    report('insert', await upsertAll(store, 0));
    report('update', await upsertAll(store, 1));
    const start = performance.now();
    let seen = 0;
    for await (const page of store.iterateDevices('bench', { pageSize: 5000 })) seen += page.length;
    if (seen !== count) throw new Error(`streamed ${seen} of ${count}`);
    report('stream', performance.now() - start);
    const macs = await timed('countDevices(Mac)', () => store.countDevices('bench', { deviceFamily: 'Mac' }));
    console.log(`${backend} count(Mac)=${macs}`);
    report('results', await recordAll(store));
    report('update after results', await upsertAll(store, 1));
    const counts = await timed('countResults', () => store.countResults('bench', new Date()));
    console.log(`${backend} ${JSON.stringify(counts)}`);
    const byUuid = await timed('countDevicesByProfileUuid', () => store.countDevicesByProfileUuid('bench'));
    console.log(`${backend} ${JSON.stringify([...byUuid])}`);
    await timed(`countDevices per UUID (${byUuid.size} counts)`, async () => {
      for (const uuid of byUuid.keys()) await store.countDevices('bench', { profileUuid: uuid });
    });
    if (file) console.log(`sqlite file ${mib((await stat(file)).size)}`);
    console.log(`peak rss ${mib(process.resourceUsage().maxRSS * 1024)}, load average ${os.loadavg()[0]?.toFixed(1)}`);
  } finally {
    await store.close();
    await cleanup();
  }
}

await main();
