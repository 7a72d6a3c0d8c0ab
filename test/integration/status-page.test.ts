/**
 * The status page in a real browser: Debian's chromium driven by playwright-core loads `/` from a real
 * control server, the key figures are read back by test id, the stylesheet must survive the page's
 * Content-Security-Policy, and a screenshot is saved (to a temp dir; also to DEPCTL_SCREENSHOT_OUT when set,
 * e.g. /work/notes/status-page.png for a human to look at).
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
import { startControlServer, type ControlServer } from '../../controller/server/http.js';
import { createMetrics } from '../../controller/server/metrics.js';
import { sampleStatus } from '../unit/server/sample-status.js';

const SCREENSHOT_OUT = process.env.DEPCTL_SCREENSHOT_OUT;
const NOW = new Date('2026-11-25T14:00:00.000Z');
/** Runs in the page: the element's computed text colour (cast because the tests compile without DOM types). */
const COLOR = (el: unknown): string => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(el).color;

describe('status page in chromium', () => {
  let dir: string;
  let server: ControlServer;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'depctl-status-page-'));
    server = await startControlServer({
      listen: '127.0.0.1:0',
      status: () => sampleStatus(NOW),
      metrics: createMetrics(),
      health: () => ({ live: true, ready: true }),
      trigger: () => undefined,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
      pageRefreshSeconds: 0,
    });
    ({ context, page } = await launchChromium(dir));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows the key figures, styled under the CSP, and saves a screenshot', async () => {
    const res = await page.goto(`${server.url}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");

    const byId = (id: string) => page.getByTestId(id);
    await expect.poll(() => byId('devices-paris').textContent()).toBe('1,234');
    expect(await byId('devices-lyon').textContent()).toBe('56');
    expect(await byId('token-days-paris').textContent()).toBe('21 d');
    expect(await byId('token-days-lyon').textContent()).toBe('200 d');
    expect(await byId('deferred-paris').textContent()).toBe('40');
    expect(await byId('drift-paris').textContent()).toBe('6');
    expect(await byId('profile-paris-classroom-ipads').textContent()).toBe('800');
    expect(await byId('condition-Ready').getAttribute('data-status')).toBe('False');
    expect(await byId('condition-Ready-reason').textContent()).toBe('PartialApply');
    expect(await byId('last-applied-revision').textContent()).toBe('3f2a9c1d4e5b');
    expect(await byId('refused-revision').textContent()).toContain('unknown profile "science-macs"');
    expect(await byId('error-lyon').textContent()).toContain('T_C_NOT_SIGNED');
    expect(await byId('run-42-commit').textContent()).toBe('3f2a9c1d4e5b');
    // A profile name with markup characters reads back as the same text.
    expect(await page.getByText('science & "labs"').count()).toBe(1);

    // The stylesheet applied (a wrong CSP hash would leave the page unstyled): the 21-day token is highlighted.
    const tokenFigure = byId('token-days-paris').locator('xpath=..');
    expect(await tokenFigure.getAttribute('class')).toBe('figure warn');
    expect(await tokenFigure.evaluate(COLOR)).toBe('rgb(138, 83, 0)');
    expect(await byId('token-days-lyon').locator('xpath=..').evaluate(COLOR)).toBe('rgb(29, 33, 39)');
    expect(consoleErrors).toEqual([]);

    const shot = join(dir, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    if (SCREENSHOT_OUT) {
      mkdirSync(dirname(SCREENSHOT_OUT), { recursive: true });
      copyFileSync(shot, SCREENSHOT_OUT);
    }
  });

  it('follows the footer link to the JSON status', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('link', { name: 'JSON' }).click();
    await page.waitForURL(`${server.url}/api/status`);
    const body = JSON.parse((await page.locator('body').textContent()) ?? '') as { servers: { name: string }[] };
    expect(body.servers.map((s) => s.name)).toEqual(['paris', 'lyon']);
  });
});
