/**
 * `npm run bench`: runs every benchmark in its own process, one after the other, and prints their reports.
 * Benchmarks measure; tests never time anything. Pass names to run a subset: `npm run bench -- validate`.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const benches: { name: string; file: string; args: string[] }[] = [
  { name: 'validate', file: 'validate.ts', args: ['100000'] },
  { name: 'dep-fetch', file: 'dep-fetch.ts', args: ['100000', '1000'] },
  { name: 'reconcile', file: 'reconcile.ts', args: ['100000', '1000000'] },
  { name: 'reconcile-postgres', file: 'reconcile.ts', args: ['--postgres', '100000', '1000000'] },
  { name: 'first-contact', file: 'first-contact.ts', args: process.argv.slice(2).filter((a) => Number(a) > 0) },
  { name: 'first-contact-postgres', file: 'first-contact.ts', args: ['--postgres', ...process.argv.slice(2).filter((a) => Number(a) > 0)] },
  { name: 'startup', file: 'startup.ts', args: ['10'] },
];

const only = process.argv.slice(2);
const dir = fileURLToPath(new URL('./', import.meta.url));
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
let failed = false;
for (const b of benches.filter((x) => only.length === 0 || only.includes(x.name))) {
  console.log(`\n== ${b.name}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${b.file}`, ...b.args], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
