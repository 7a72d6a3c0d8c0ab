/**
 * `npm run soak`: the crash soak (soak.ts) on SQLite and, when DEPCTL_TEST_POSTGRES_URL is set (or
 * `--postgres URL`), on PostgreSQL, with the figures printed. Exits 1 when any run finds a violation.
 *
 *   npm run soak -- [--devices 20000] [--kills 30] [--seed N] [--store sqlite|postgres|both] [--pg-replicas 2] [--keep]
 *
 * On PostgreSQL two replicas run by default: every kill hits the leader and the other takes over.
 *
 * The seed fixes every choice (fleet, kill moments, faults); where a kill lands in time still depends on the
 * machine, so two runs with one seed are alike, not identical. `--keep` keeps the work directory (the
 * controller's log is `controller.log` there); it is always kept when a run finds a violation.
 */
import { parseArgs } from 'node:util';
import { formatReport, runSoak, type SoakReport } from './soak.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '20000' },
    kills: { type: 'string', default: '30' },
    seed: { type: 'string' },
    store: { type: 'string', default: 'both' },
    postgres: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'pg-replicas': { type: 'string', default: '2' },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const pgUrl = values.postgres ?? process.env['DEPCTL_TEST_POSTGRES_URL'];
const stores: string[] = [];
if (values.store === 'sqlite' || values.store === 'both') stores.push('sqlite');
if (values.store === 'postgres' || values.store === 'both') {
  if (pgUrl) stores.push(pgUrl);
  else if (values.store === 'postgres') throw new Error('--store postgres needs --postgres URL or DEPCTL_TEST_POSTGRES_URL');
  else console.log('soak: no PostgreSQL (set DEPCTL_TEST_POSTGRES_URL or --postgres URL): SQLite only');
}

const reports: SoakReport[] = [];
for (const store of stores) {
  const name = store === 'sqlite' ? 'sqlite' : 'postgres';
  console.log(`soak on ${name}: ${values.devices} devices, ${values.kills} kills, seed ${seed} (replay with --seed ${seed})`);
  const started = Date.now();
  const r = await runSoak({ store, devices: Number(values.devices), kills: Number(values.kills), seed, keep: values.keep, replicas: Number(values['pg-replicas']), log: (line) => console.log(`  [${name}] ${line}`) });
  console.log(`${formatReport(r)}\n  wall ${((Date.now() - started) / 1000).toFixed(1)} s${r.violations.length > 0 || values.keep ? `; work directory kept: ${r.workDir}` : ''}\n`);
  reports.push(r);
}
process.exitCode = reports.some((r) => r.violations.length > 0) ? 1 : 0;
