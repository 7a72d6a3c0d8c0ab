/**
 * Debian's chromium driven by playwright-core for the status page tests (`bash .ci/chromium.sh` installs it;
 * DEPCTL_CHROMIUM points elsewhere). Headless with the flags the closed network here needs, a fresh profile
 * directory per run (no cache, cookie or earlier state can change what is seen), light scheme, 1280×900.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env['DEPCTL_CHROMIUM'] ?? '/usr/bin/chromium';

/** Launches chromium with its profile under `dir`; throws with the fix when chromium is not installed. */
export async function launchChromium(dir: string): Promise<{ context: BrowserContext; page: Page }> {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`chromium not found at ${CHROMIUM}: run "bash .ci/chromium.sh" or set DEPCTL_CHROMIUM`);
  }
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
  });
  return { context, page: context.pages()[0] ?? (await context.newPage()) };
}
