/**
 * `depctl validate` on a large config: N serials, half inline in YAML and half in an Apple Business Manager
 * style CSV (DESIGN.md goal: 100,000 serials in under 2 s). Measures loadConfig in a fresh process (schema
 * compile included) and the whole CLI (`node bin/depctl.js validate`, process start included) when built.
 * Run: `npx tsx bench/validate.ts [serials=100000]`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const total = Number(process.argv[2] ?? 100_000);
const root = fileURLToPath(new URL('../', import.meta.url));

/** Deterministic, distinct 12-character serials. */
function serial(i: number): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
  let n = i * 7919 + 104729;
  let s = 'C';
  for (let k = 0; k < 11; k++) {
    s += alphabet[n % alphabet.length];
    n = Math.floor(n / alphabet.length) + k * 31;
  }
  return `${s.slice(0, 4)}${i.toString(36).toUpperCase().padStart(8, '0')}`;
}

const dir = await mkdtemp(join(tmpdir(), 'depctl-bench-validate-'));
try {
  const half = Math.floor(total / 2);
  const inline = Array.from({ length: half }, (_, i) => `    - ${serial(i)}`).join('\n');
  const csv = ['Serial Number,Order Number,Device Model,Product Family,Color'];
  for (let i = half; i < total; i++) csv.push(`${serial(i)},MX-${i % 997},iPad (10th generation),iPad,Silver`);
  await writeFile(join(dir, 'config.yaml'), `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [paris]
  profile: { profile_name: iPads, url: "https://mdm.example.com/enroll", is_supervised: true }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: inline }
spec:
  profile: ipads
  serials:
${inline}
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: from-csv }
spec:
  profile: ipads
  serialFiles: [carts.csv]
`);
  await writeFile(join(dir, 'carts.csv'), `${csv.join('\n')}\n`);

  // In-process: the library call, several runs (the first includes compiling the schemas).
  const { loadConfig } = await import('../controller/config/load.js');
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = await loadConfig(dir);
    runs.push(performance.now() - t0);
    if (r.errorCount > 0 || r.stats.serials !== total) throw new Error(`unexpected result: ${r.errorCount} errors, ${r.stats.serials} serials`);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  console.log(`validate ${total.toLocaleString('en-US')} serials (${half} inline YAML + ${total - half} CSV)`);
  console.log(`  loadConfig: first ${runs[0]!.toFixed(0)} ms (cold), median ${sorted[2]!.toFixed(0)} ms, min ${sorted[0]!.toFixed(0)} ms`);

  // Whole command, as a user runs it: process start, module load, validate, print.
  const bin = join(root, 'bin/depctl.js');
  if (existsSync(join(root, 'dist/main.js'))) {
    const cli: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      execFileSync(process.execPath, [bin, 'validate', dir], { stdio: 'pipe' });
      cli.push(performance.now() - t0);
    }
    console.log(`  depctl validate (CLI, built): ${cli.map((t) => t.toFixed(0)).join(' / ')} ms`);
  } else {
    console.log('  depctl validate (CLI): skipped, run `npm run build` first');
  }
  console.log(`  peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
