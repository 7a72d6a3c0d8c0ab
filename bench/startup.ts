/**
 * Start-up time of the built CLI (issue item 4): `node bin/depctl.js` with --help, `validate examples`,
 * `validate examples/school` and `plan --help`, each run N times in a fresh process. Reports the median and
 * p90 of the wall time and of the CPU time (user + system, as the child measures it), and exits 1 when a
 * goal is missed: `--help` ≤ 200 ms and `validate examples` ≤ 400 ms wall (median).
 * Run after `npm run build`: `npm run bench -- startup`, or `npx tsx bench/startup.ts [runs=10]`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 10);
const root = fileURLToPath(new URL('../', import.meta.url));

interface Case {
  args: string[];
  /** Goal for the median wall time, in milliseconds. */
  goalMs?: number;
}

const cases: Case[] = [
  { args: ['--help'], goalMs: 200 },
  { args: ['validate', 'examples'], goalMs: 400 },
  { args: ['validate', 'examples/school'] },
  { args: ['plan', '--help'] },
];

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/**
 * Preloaded into each child: on exit it writes its own CPU time (user and system, µs) to fd 3. Node does not
 * report a child's rusage, and this leaves the CLI untouched; it misses only the last moments of teardown.
 */
const CPU_HOOK = `data:text/javascript,${encodeURIComponent(
  "import { writeSync } from 'node:fs'; process.on('exit', () => { const u = process.cpuUsage(); writeSync(3, `${u.user} ${u.system}`); });",
)}`;

/** Runs the CLI once; wall time from spawn to exit, CPU from the child itself (CPU_HOOK). */
function once(args: string[]): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', CPU_HOOK, 'bin/depctl.js', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let cpu = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdio[3]?.on('data', (d: Buffer) => (cpu += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      if (code !== 0) {
        reject(new Error(`depctl ${args.join(' ')} exited with ${code}: ${stderr}`));
        return;
      }
      const usage = /^(\d+) (\d+)$/.exec(cpu.trim());
      resolve({ wallMs, cpuMs: usage ? (Number(usage[1]) + Number(usage[2])) / 1000 : Number.NaN });
    });
  });
}

/** The q-quantile (nearest rank) of the values. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

if (!existsSync(`${root}dist/main.js`)) {
  console.error('startup: dist/main.js is missing; run `npm run build` first');
  process.exit(1);
}

const fmt = (ms: number): string => `${ms.toFixed(0)} ms`.padStart(7);
console.log(`startup: node bin/depctl.js, ${runs} runs each (after 1 warm-up run), median and p90`);
console.log(`${'command'.padEnd(26)} ${'wall p50'.padStart(8)} ${'wall p90'.padStart(8)} ${'cpu p50'.padStart(8)} ${'cpu p90'.padStart(8)}  goal`);
let missed = 0;
for (const c of cases) {
  await once(c.args); // warm the file system cache
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once(c.args));
  const wall = samples.map((s) => s.wallMs);
  const cpu = samples.map((s) => s.cpuMs);
  const p50 = quantile(wall, 0.5);
  const ok = c.goalMs === undefined || p50 <= c.goalMs;
  if (!ok) missed++;
  const goal = c.goalMs === undefined ? '' : `≤ ${c.goalMs} ms ${ok ? 'ok' : 'MISSED'}`;
  console.log(`${c.args.join(' ').padEnd(26)} ${fmt(p50)}  ${fmt(quantile(wall, 0.9))}  ${fmt(quantile(cpu, 0.5))}  ${fmt(quantile(cpu, 0.9))}  ${goal}`);
}
if (missed > 0) console.log(`startup: ${missed} goal(s) missed`);
process.exitCode = missed > 0 ? 1 : 0;
