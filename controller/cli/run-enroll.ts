/**
 * `depctl run`'s wiring of the enrollment endpoint (issue 14): trust anchors (Apple's device CAs plus
 * `--enroll-ca`), the public URL profiles' `url: { enrollment }` expand against (`--public-url`,
 * DEPCTL_PUBLIC_URL), the endpoint itself, and the enrollment part of the status. The endpoint serves the
 * config the last pass ran with; before the first pass, and on a follower replica, it answers 503.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DepConfig } from '../config/types.js';
import { normalisePublicUrl } from '../config/enrollment.js';
import { APPLE_DEVICE_ANCHORS } from '../enroll/apple-roots.js';
import { createEnrollEndpoint, ENROLL_MAX_BODY_BYTES, secretReader } from '../enroll/endpoint.js';
import { defaultTrustPolicy, type TrustPolicy } from '../config/trust.js';
import { parseAnchors } from '../enroll/machine-info.js';
import type { EnrollStore } from '../enroll/ports.js';
import { enrollmentStatus } from '../enroll/status.js';
import type { ControllerStatus, EnrollmentProfileStatus } from '../reconcile/status.js';
import type { EnrollRoute } from '../server/http.js';
import type { Logger } from '../util/logger.js';
import { UsageError, type CliIo } from './io.js';

/** What `startController` gets back. */
export interface RunEnrollment {
  /** The public base URL (no trailing slash), when set. */
  publicUrl: string | undefined;
  route: EnrollRoute;
  /** The config the endpoint serves from now on (the one a pass runs with). */
  setConfig(config: DepConfig): void;
  /** Re-reads the per-profile counts from the store (after a pass and after each attempt). */
  refresh(): Promise<void>;
  /** The status with its enrollment part. */
  decorate(status: ControllerStatus): ControllerStatus;
}

/** Builds the endpoint from the run options; a bad --public-url or --enroll-ca file is a usage error. */
export async function setupEnrollment(
  opts: { publicUrl?: string; enrollCa?: string[] },
  deps: { io: CliIo; secretsDir: string; trust?: TrustPolicy; store: EnrollStore; logger: Logger; now: () => Date; onAttempt: (profile: string, outcome: string) => void },
): Promise<RunEnrollment> {
  const rawUrl = opts.publicUrl ?? (deps.io.env['DEPCTL_PUBLIC_URL'] || undefined);
  const publicUrl = rawUrl === undefined ? undefined : normalisePublicUrl(rawUrl);
  if (rawUrl !== undefined && publicUrl === undefined) throw new UsageError(`--public-url / DEPCTL_PUBLIC_URL "${rawUrl}" is not an absolute https URL without query`);
  const extra: { pem: string; what: string }[] = [];
  for (const file of opts.enrollCa ?? []) {
    const path = resolve(deps.io.cwd, file);
    try {
      extra.push({ pem: await readFile(path, 'utf8'), what: `--enroll-ca ${file}` });
    } catch (err) {
      throw new UsageError(`--enroll-ca ${file}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let anchors;
  try {
    anchors = parseAnchors([...APPLE_DEVICE_ANCHORS.map((pem) => ({ pem, what: "Apple's device CA" })), ...extra]);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (extra.length > 0) deps.logger.warn({ files: opts.enrollCa }, 'enrollment trusts extra device CAs (--enroll-ca): use this for tests and labs only');

  let config: DepConfig | undefined;
  let status: EnrollmentProfileStatus[] | null | undefined;
  let refreshing: Promise<void> | undefined;
  let again = false;
  const log = deps.logger.child({ component: 'enroll' });
  const refresh = async (): Promise<void> => {
    // One refresh at a time; a request during one schedules exactly one more (a burst of devices reads once).
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        const c = config;
        if (!c) return;
        status = await enrollmentStatus(c, deps.store).catch((err: unknown) => {
          log.warn({ err: (err as Error).message }, 'enrollment status could not be read from the store');
          return null;
        });
      } while (again);
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };
  const endpoint = createEnrollEndpoint({
    config: () => config,
    store: deps.store,
    anchors,
    readSecret: secretReader(deps.trust ?? defaultTrustPolicy(deps.secretsDir), deps.io.env),
    logger: log,
    now: deps.now,
    onAttempt: (a) => {
      deps.onAttempt(a.profile, a.outcome);
      void refresh();
    },
  });
  return {
    publicUrl,
    route: { maxBodyBytes: ENROLL_MAX_BODY_BYTES, handle: (profile, body) => endpoint.handle(profile, body) },
    setConfig: (c) => {
      config = c;
    },
    refresh,
    decorate: (s) => (status === undefined || (status !== null && status.length === 0) ? s : { ...s, enrollment: status }),
  };
}
