/**
 * The quickstart's part of issue 14: a test device CA in the quickstart folder that the controller trusts
 * (`--enroll-ca`), and a `depctl sim enroll` command line to paste, aimed at a profile the config serves
 * and a serial assigned to it.
 */
import { join, relative } from 'node:path';
import { enrollPath } from '../config/enrollment.js';
import { loadConfig } from '../config/load.js';
import type { DepConfig } from '../config/types.js';
import { createTestDeviceCa, loadTestCa, TEST_CA_FILES, TestCaError, writeTestCa } from '../sim/test-ca.js';

/** The CA's folder inside the quickstart folder; kept across runs so pasted commands keep working. */
export const QUICKSTART_CA_DIR = 'enroll-ca';

/** The quickstart's test CA: its folder and the root certificate the controller trusts. */
export interface QuickstartCa {
  dir: string;
  root: string;
  created: boolean;
}

/** Reuses the CA in `base/enroll-ca`, or creates it (replacing files that do not form a CA: the folder is ours). */
export async function quickstartCa(base: string): Promise<QuickstartCa> {
  const dir = join(base, QUICKSTART_CA_DIR);
  const root = join(dir, TEST_CA_FILES.rootCert);
  try {
    await loadTestCa(dir);
    return { dir, root, created: false };
  } catch (err) {
    if (!(err instanceof TestCaError)) throw err;
  }
  await writeTestCa(dir, createTestDeviceCa({ commonName: 'depctl Quickstart' }), { overwrite: true });
  return { dir, root, created: true };
}

/** An older iOS (with its build) for the below-the-minimum example: iOS 16.7, build 20H19. */
const OLD_IOS = { version: '16.7', build: '20H19', major: 16 } as const;

/**
 * What the quickstart prints about enrollment: which CA the controller trusts and `depctl sim enroll` lines
 * to paste (one that enrolls and, when the profile has an iOS minimum above 16.7, one held for an update).
 * Reads the repository's config; when no profile is served by depctl, says how to get there.
 */
export async function enrollHint(repo: string, controllerUrl: string, ca: QuickstartCa, cwd: string, secretsDir: string): Promise<string> {
  const rel = relative(cwd, ca.dir);
  const caShown = rel !== '' && !rel.startsWith('..') ? rel : ca.dir;
  const lines = [`Enrollment: the controller trusts the test device CA in ${caShown} (${ca.created ? 'created' : 'kept from an earlier run'}; tests and labs only).`];
  // `url: { enrollment }` without a public URL only warns here: the profile and its serial are what matter.
  const config = await loadConfig(repo, { secretsDir, unresolvedUrl: 'warning' }).then(
    (r) => r.config,
    () => undefined, // loadConfig reports problems as data; anything else only costs the hint.
  );
  const found = config ? enrollCommand(config, controllerUrl, ca.dir, cwd) : undefined;
  if (!config || !found) {
    lines.push(`  No profile names an Enrollment with listed serials; add one (README: Enrollment endpoint), then try: depctl sim enroll --url ${controllerUrl}/enroll/PROFILE --serial SERIAL --ca ${caShown}`);
    return `${lines.join('\n')}\n`;
  }
  lines.push(`  Try a device in Setup Assistant (after the first pass): ${found.command}`);
  const minimum = config.profiles.find((p) => p.name === found.profile)?.enroll?.minimumOS.iOS;
  if (minimum !== undefined && Number(minimum.version.split('.')[0]) > OLD_IOS.major) {
    lines.push(`  One below the minimum iOS ${minimum.version}, which can update: ${found.command} --os ${OLD_IOS.version} --build ${OLD_IOS.build} --can-update`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * A `depctl sim enroll` command line for the first profile the config serves through depctl that has an
 * assignment listing serials, or undefined when there is none. Paths are relative to `cwd` when inside it.
 */
export function enrollCommand(config: DepConfig, controllerUrl: string, caDir: string, cwd: string): { profile: string; serial: string; command: string } | undefined {
  for (const profile of config.profiles) {
    if (!profile.enroll) continue;
    const serial = config.assignments.find((a) => a.profile === profile.name && a.serials.length > 0)?.serials[0];
    if (serial === undefined) continue;
    const rel = relative(cwd, caDir);
    const ca = rel !== '' && !rel.startsWith('..') ? rel : caDir;
    return { profile: profile.name, serial, command: `depctl sim enroll --url ${controllerUrl}${enrollPath(profile.name)} --serial ${serial} --ca ${ca}` };
  }
  return undefined;
}
