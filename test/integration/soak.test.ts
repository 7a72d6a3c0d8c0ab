/**
 * The short crash soak in CI (issue 18): the same harness as `npm run soak` (test/soak/soak.ts), with fewer
 * devices and kills, on SQLite and on PostgreSQL with two replicas (when DEPCTL_TEST_POSTGRES_URL is set, as in
 * CI). The seed is
 * printed; `SOAK_SEED=N` replays its choices (`npm run soak -- --seed N --devices 2000 --kills 8` shows the
 * figures). A violation names what disagreed; the work directory (with the controller's log) is kept.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatReport, runSoak } from '../soak/soak.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pgUrl = process.env['DEPCTL_TEST_POSTGRES_URL'];
const fromEnv = process.env['SOAK_SEED'];
const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
const KILLS = 8;

describe('crash soak, short version', () => {
  const stores: Array<[string, string | undefined]> = [
    ['sqlite', 'sqlite'],
    ['postgres', pgUrl],
  ];
  for (const [name, store] of stores) {
    it.skipIf(store === undefined)(`${name}: ${KILLS} SIGKILLs under Apple faults lose nothing and converge`, async () => {
      expect(existsSync(join(root, 'dist/main.js')), 'npm test builds dist/ first').toBe(true);
      console.log(`soak ${name}: seed ${seed} (replay with SOAK_SEED=${seed})`);
      // On PostgreSQL two replicas: every kill hits the leader and the other takes over.
      const report = await runSoak({ store: store!, devices: 2000, kills: KILLS, seed, convergeTimeoutMs: 120_000, replicas: name === 'postgres' ? 2 : 1 });
      console.log(formatReport(report));
      expect(report.violations, `${formatReport(report)}\nwork directory: ${report.workDir}`).toEqual([]);
      expect(report.killsSurvived).toBe(KILLS);
      // The checks had something to check: Apple wrote, and the audit log has rows for it.
      expect(report.callsChecked).toBeGreaterThan(0);
      expect(report.auditRowsChecked).toBeGreaterThan(report.callsChecked);
    }, 300_000);
  }
});
