/**
 * Measures a full DEP fetch through the real client against the simulator (both in this process):
 * pages per second, devices per second and MB of response bodies. Run: `npx tsx bench/dep-fetch.ts
 * [devices=100000] [limit=1000]`.
 */
import { Agent } from 'undici';
import { createDepClient } from '../controller/dep/client.js';
import { startSimulator } from '../controller/sim/index.js';

const devices = Number(process.argv[2] ?? 100_000);
const limit = Number(process.argv[3] ?? 1000);

const seedStart = performance.now();
const sim = await startSimulator({ devices, seed: 1 });
const seedMs = performance.now() - seedStart;
const agent = new Agent({ keepAliveTimeout: 30_000 });
let bytes = 0;
let requests = 0;
const client = createDepClient({
  baseUrl: sim.url,
  token: sim.token,
  dispatcher: agent,
  onRequest: (e) => {
    requests++;
    bytes += e.responseBytes;
  },
});

try {
  const started = performance.now();
  let pages = 0;
  let seen = 0;
  for await (const page of client.fetchAllDevices({ limit })) {
    pages++;
    seen += page.devices.length;
  }
  const seconds = (performance.now() - started) / 1000;
  if (seen !== devices) throw new Error(`fetched ${seen} devices, expected ${devices}`);
  const mb = bytes / 1e6;
  console.log(
    JSON.stringify(
      {
        devices,
        limit,
        simulatorSeedMs: Math.round(seedMs),
        pages,
        requests,
        seconds: Number(seconds.toFixed(2)),
        pagesPerSecond: Number((pages / seconds).toFixed(1)),
        devicesPerSecond: Math.round(seen / seconds),
        responseMB: Number(mb.toFixed(1)),
        MBPerSecond: Number((mb / seconds).toFixed(1)),
        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      },
      null,
      2,
    ),
  );
} finally {
  await agent.close();
  await sim.close();
}
