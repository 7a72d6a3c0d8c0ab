/**
 * The status page's Enrollment table in a real browser (issue 14): chromium via playwright-core loads `/`
 * from a real control server whose status carries the enrollment part; figures are read back by test id and
 * a screenshot is saved (also to DEPCTL_SCREENSHOT_OUT when set, for a human to look at).
 *
 * Needs chromium: `bash .ci/chromium.sh` installs it; DEPCTL_CHROMIUM points elsewhere (default /usr/bin/chromium).
 */
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControllerStatus } from '../../controller/reconcile/status.js';
import { startControlServer, type ControlServer } from '../../controller/server/http.js';
import { createMetrics } from '../../controller/server/metrics.js';
import { sampleStatus } from '../unit/server/sample-status.js';

const SCREENSHOT_OUT = process.env.DEPCTL_SCREENSHOT_OUT;
const NOW = new Date('2026-12-01T09:00:00.000Z');

function status(): ControllerStatus {
  return {
    ...sampleStatus(NOW),
    enrollment: [
      { profile: 'staff-iphones', enrollment: 'corp', enrolled: 412, refused: 3, heldForUpdate: 17, badRequest: 1, assignedNeverEnrolled: 9 },
      { profile: 'lab-macs', enrollment: 'corp', enrolled: 40, refused: 0, heldForUpdate: 0, badRequest: 0, assignedNeverEnrolled: 0 },
      { profile: 'kiosk', enrollment: 'open', enrolled: 0, refused: 0, heldForUpdate: 0, badRequest: 0, assignedNeverEnrolled: null },
    ],
  };
}

describe('status page: enrollment table in chromium', () => {
  let dir: string;
  let server: ControlServer;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'depctl-enroll-page-'));
    server = await startControlServer({
      listen: '127.0.0.1:0',
      status,
      metrics: createMetrics({ defaultMetrics: false }),
      health: () => ({ live: true, ready: true }),
      trigger: () => undefined,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
      pageRefreshSeconds: 0,
    });
    ({ context, page } = await launchChromium(dir));
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows per profile enrolled, refused, held for an OS update and assigned but never enrolled', async () => {
    const res = await page.goto(`${server.url}/`);
    expect(res?.status()).toBe(200);
    const byId = (id: string) => page.getByTestId(id);
    await expect.poll(() => byId('enroll-enrolled-staff-iphones').textContent()).toBe('412');
    expect(await byId('enroll-refused-staff-iphones').textContent()).toBe('3');
    expect(await byId('enroll-held-staff-iphones').textContent()).toBe('17');
    expect(await byId('enroll-never-staff-iphones').textContent()).toBe('9');
    // Drift is highlighted; a zero is not; an unknown count says so.
    expect(await byId('enroll-never-staff-iphones').getAttribute('class')).toBe('num warn');
    expect(await byId('enroll-never-lab-macs').getAttribute('class')).toBe('num');
    expect(await byId('enroll-never-kiosk').textContent()).toBe('unknown');
    expect(await page.getByRole('heading', { name: 'Enrollment' }).count()).toBe(1);

    const table = page.getByRole('heading', { name: 'Enrollment' }).locator('xpath=..');
    const shot = join(dir, 'enrollment.png');
    await table.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(2_000);
    if (SCREENSHOT_OUT) {
      mkdirSync(dirname(SCREENSHOT_OUT), { recursive: true });
      copyFileSync(shot, SCREENSHOT_OUT);
    }
  });
});
