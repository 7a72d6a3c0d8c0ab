/**
 * Measures a simulator group (not a test; vitest only runs *.test.ts):
 *   node --expose-gc --import tsx test/unit/sim/multi-measure.ts [PER_SERVER=500000] [SERVERS=2] [FETCH=100000]
 * Prints the time and memory to start SERVERS servers of PER_SERVER devices each, then the time of
 * a full raw-HTTP fetch (limit 1000) of FETCH devices from one server of a two-server group and from
 * a lone simulator, to show what routing by session token costs.
 */
import { request } from 'undici';
import type { RunningSimulator, SimulatedServer } from '../../../controller/sim/api.js';
import { startSimulator, startSimulatorGroup } from '../../../controller/sim/index.js';
import { session } from './raw-client.js';

const perServer = Number(process.argv[2] ?? 500_000);
const count = Number(process.argv[3] ?? 2);
const fetchCount = Number(process.argv[4] ?? 100_000);
const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
const gc = (globalThis as { gc?: () => void }).gc;

gc?.();
const before = process.memoryUsage();
const t = performance.now();
const big = await startSimulatorGroup({ servers: Array.from({ length: count }, (_, k) => ({ name: `s${k}`, devices: perServer })) });
const startMs = performance.now() - t;
gc?.();
const after = process.memoryUsage();
console.log(`group of ${count} x ${perServer} devices: start ${startMs.toFixed(0)} ms; RSS ${mib(before.rss)} -> ${mib(after.rss)} (+${mib(after.rss - before.rss)})`);
await big.close();

async function fullFetch(sim: RunningSimulator): Promise<{ ms: number; devices: number }> {
  const token = await session(sim);
  let cursor: string | undefined;
  let devices = 0;
  const t0 = performance.now();
  for (;;) {
    const res = await request(`${sim.url}/server/devices`, {
      method: 'POST',
      headers: { 'user-agent': 'measure', 'x-adm-auth-session': token, 'x-server-protocol-version': '10', 'content-type': 'application/json;charset=UTF8' },
      body: JSON.stringify(cursor ? { cursor, limit: 1000 } : { limit: 1000 }),
    });
    const page = (await res.body.json()) as { cursor: string; more_to_follow: boolean; devices: unknown[] };
    devices += page.devices.length;
    cursor = page.cursor;
    if (!page.more_to_follow) break;
  }
  return { ms: performance.now() - t0, devices };
}

const group = await startSimulatorGroup({ servers: [{ name: 'a', devices: fetchCount }, { name: 'b', devices: fetchCount }] });
const lone = await startSimulator({ devices: fetchCount });
const b = group.servers.get('b') as SimulatedServer;
const viaGroup: RunningSimulator = { ...b, url: group.url, advanceClock: group.advanceClock, close: group.close };
// Alternating order, so JIT warm-up does not favour either side.
for (const round of [1, 2, 3, 4]) {
  const first = round % 2 === 1 ? 'lone' : 'group';
  const l = first === 'lone' ? await fullFetch(lone) : undefined;
  const g = await fullFetch(viaGroup);
  const l2 = l ?? (await fullFetch(lone));
  console.log(`round ${round} (${first} first): full fetch of ${g.devices} devices from server b of a group ${g.ms.toFixed(0)} ms; lone simulator (${l2.devices}) ${l2.ms.toFixed(0)} ms`);
}
await group.close();
await lone.close();
