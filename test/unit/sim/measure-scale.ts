/**
 * Measures the simulator at scale (not a test; vitest only runs *.test.ts):
 *   node --expose-gc --import tsx test/unit/sim/measure-scale.ts [GENERATE=1000000] [FETCH=100000]
 * Prints the time and memory to generate GENERATE devices, then the time of a full raw-HTTP fetch
 * (limit 1000) of a FETCH-device simulator, split into request+body and JSON parsing.
 */
import { request } from 'undici';
import { startSimulator } from '../../../controller/sim/index.js';
import { session } from './raw-client.js';

const generate = Number(process.argv[2] ?? 1_000_000);
const fetchCount = Number(process.argv[3] ?? 100_000);
const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;

const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage();
let t = performance.now();
const big = await startSimulator({ devices: generate, seed: 42 });
const genMs = performance.now() - t;
gc?.();
const after = process.memoryUsage();
console.log(`generate ${generate} devices: ${genMs.toFixed(0)} ms; RSS ${mib(before.rss)} -> ${mib(after.rss)} (+${mib(after.rss - before.rss)}), heap +${mib(after.heapUsed - before.heapUsed)}, typed arrays +${mib(after.arrayBuffers - before.arrayBuffers)}`);
await big.close();

const sim = await startSimulator({ devices: fetchCount, seed: 42 });
const token = await session(sim);
for (const label of ['cold', 'warm']) {
  let cursor: string | undefined;
  let devices = 0;
  let pages = 0;
  let parseMs = 0;
  t = performance.now();
  for (;;) {
    const res = await request(`${sim.url}/server/devices`, {
      method: 'POST',
      headers: { 'user-agent': 'measure', 'x-adm-auth-session': token, 'x-server-protocol-version': '10', 'content-type': 'application/json;charset=UTF8' },
      body: JSON.stringify(cursor ? { cursor, limit: 1000 } : { limit: 1000 }),
    });
    const text = await res.body.text();
    const p = performance.now();
    const page = JSON.parse(text) as { cursor: string; devices: unknown[]; more_to_follow: boolean };
    parseMs += performance.now() - p;
    devices += page.devices.length;
    pages++;
    cursor = page.cursor;
    if (!page.more_to_follow) break;
  }
  const total = performance.now() - t;
  console.log(`fetch ${devices} devices in ${pages} pages over HTTP (${label}): ${total.toFixed(0)} ms (JSON.parse ${parseMs.toFixed(0)} ms); RSS ${mib(process.memoryUsage().rss)}`);
}
await sim.close();
