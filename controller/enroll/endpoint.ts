/**
 * The enrollment endpoint, `POST /enroll/PROFILE` on `depctl run` (issue 14): verify the device's signed
 * MachineInfo, decide from the store and the config in force (no Apple call), record the attempt, and answer
 * with the enrollment profile, Apple's softwareupdate.required, or a refusal. The HTTP server reads the body
 * (up to `ENROLL_MAX_BODY_BYTES`) and writes the answer; everything in between is here. Every refusal is
 * logged with its reason; secrets (SCEP challenge, ACME client identifier, signing key) never are.
 */
import { readFile } from 'node:fs/promises';
import type { DepConfig, Enrollment, EnrollmentProfile, SecretRef } from '../config/types.js';
import { readSecretRef, type TrustPolicy } from '../config/trust.js';
import { compileServerRules, decide as decideProfile, type ServerRules } from '../reconcile/desired.js';
import { MachineInfoError, verifyMachineInfo, type MachineInfo, type TrustAnchors } from './machine-info.js';
import { buildMobileconfig, MOBILECONFIG_CONTENT_TYPE, type EnrollmentMaterial } from './mobileconfig.js';
import { decide, type SerialStanding } from './policy.js';
import type { EnrollmentAttempt, EnrollStore } from './ports.js';

/** Largest MachineInfo body accepted (a real one is 2 to 5 KiB with its certificates); more is a 413. */
export const ENROLL_MAX_BODY_BYTES = 64 * 1024;

/** An answer for the HTTP server to send. */
export interface EnrollAnswer {
  status: number;
  contentType: string;
  body: Buffer;
}

/** What the endpoint needs; the composition root (cli/run.ts) builds it. */
export interface EnrollEndpointOptions {
  /** The config in force (the last revision a pass ran with), or undefined before there is one. */
  config: () => DepConfig | undefined;
  store: EnrollStore;
  /** Apple's device CAs plus `--enroll-ca` files. */
  anchors: TrustAnchors;
  /** Reads a secret reference (a file under the secrets directory, or an environment variable). */
  readSecret: (ref: SecretRef) => Promise<Buffer>;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now: () => Date;
  /** Called after each recorded attempt (metrics, status refresh). */
  onAttempt?: (attempt: EnrollmentAttempt) => void;
}

/** The enrollment endpoint. */
export interface EnrollEndpoint {
  /** Answers a POST whose body was read in full (`body`), or was over the limit (`null`). */
  handle(profile: string, body: Buffer | null): Promise<EnrollAnswer>;
}

const json = (status: number, value: unknown, contentType = 'application/json; charset=utf-8'): EnrollAnswer => ({
  status,
  contentType,
  body: Buffer.from(`${JSON.stringify(value)}\n`),
});

/** Creates the endpoint. */
export function createEnrollEndpoint(opts: EnrollEndpointOptions): EnrollEndpoint {
  const log = opts.logger;
  // Compiled assignment rules per config object and server, so a burst of devices compiles them once.
  const rulesCache = new WeakMap<DepConfig, Map<string, ServerRules>>();
  const rulesFor = (config: DepConfig, server: string): ServerRules => {
    let m = rulesCache.get(config);
    if (!m) rulesCache.set(config, (m = new Map()));
    let r = m.get(server);
    if (!r) m.set(server, (r = compileServerRules(config, server)));
    return r;
  };

  async function standingOf(config: DepConfig, profile: EnrollmentProfile, serial: string): Promise<SerialStanding> {
    let other: SerialStanding | undefined;
    for (const server of config.servers) {
      const record = await opts.store.getDevice(server.name, serial);
      if (!record) continue;
      const d = decideProfile(rulesFor(config, server.name), record.device);
      if (d.kind === 'profile') {
        if (d.profile === profile.name) return { kind: 'desired', server: server.name };
        other ??= { kind: 'other-profile', server: server.name, desired: d.profile };
        continue;
      }
      if (d.kind === 'ignore' && record.device.profile_uuid) {
        // Not managed by an Assignment: what Apple holds for the device decides (a profile depctl defined).
        const uuids = (await opts.store.listProfiles(server.name)).filter((p) => p.name === profile.name && p.uuid).map((p) => p.uuid);
        if (uuids.includes(record.device.profile_uuid)) return { kind: 'desired', server: server.name };
      }
      other ??= { kind: 'other-profile', server: server.name, desired: null };
    }
    return other ?? { kind: 'unknown' };
  }

  async function material(e: Enrollment): Promise<EnrollmentMaterial> {
    const m: EnrollmentMaterial = { anchors: [] };
    if (e.scep?.challenge) m.scepChallenge = (await opts.readSecret(e.scep.challenge)).toString('utf8').trim();
    if (e.acme) m.acmeClientIdentifier = (await opts.readSecret(e.acme.clientIdentifier)).toString('utf8').trim();
    for (const file of e.anchorCertificates) m.anchors.push(await readFile(file, 'utf8'));
    if (e.signing) {
      m.signing = { certificatePem: (await opts.readSecret(e.signing.certificate)).toString('utf8'), keyPem: (await opts.readSecret(e.signing.key)).toString('utf8') };
    }
    return m;
  }

  async function record(a: EnrollmentAttempt): Promise<void> {
    try {
      await opts.store.recordEnrollmentAttempt(a);
    } catch (err) {
      log.error({ profile: a.profile, serial: a.serial, err: (err as Error).message }, 'enrollment attempt not recorded');
    }
    opts.onAttempt?.(a);
  }

  const attempt = (profile: string, info: MachineInfo | null, over: Pick<EnrollmentAttempt, 'outcome' | 'reason' | 'server'>): EnrollmentAttempt => ({
    at: opts.now(),
    profile,
    serial: info?.SERIAL ?? null,
    product: info?.PRODUCT ?? null,
    osVersion: info?.OS_VERSION ?? null,
    build: info?.VERSION ?? null,
    ...over,
  });

  return {
    async handle(profileName, body) {
      const config = opts.config();
      if (!config) {
        log.warn({ profile: profileName }, 'enrollment refused: no configuration is in force yet (or this replica is a follower)');
        return json(503, { error: 'enrollment is not available yet: no configuration is in force' });
      }
      const profile = config.profiles.find((p) => p.name === profileName);
      const enroll = profile?.enroll;
      const enrollment = enroll ? config.enrollments?.find((e) => e.name === enroll.enrollment) : undefined;
      if (!profile || !enroll || !enrollment) {
        log.warn({ profile: profileName.slice(0, 63) }, 'enrollment request for a profile depctl does not serve');
        return json(404, { error: 'no enrollment is served for this profile' });
      }
      if (body === null) {
        await record(attempt(profile.name, null, { outcome: 'bad-request', reason: 'body-too-large', server: null }));
        log.warn({ profile: profile.name, limit: ENROLL_MAX_BODY_BYTES }, 'enrollment refused: body too large');
        return json(413, { error: `request body exceeds ${ENROLL_MAX_BODY_BYTES} bytes` });
      }
      let info: MachineInfo;
      let signer: string;
      try {
        const v = verifyMachineInfo(body, opts.anchors);
        info = v.info;
        signer = v.signer;
      } catch (err) {
        if (!(err instanceof MachineInfoError)) throw err;
        const status = err.problem === 'malformed' ? 400 : 403;
        const outcome = err.problem === 'malformed' ? 'bad-request' : 'refused';
        await record(attempt(profile.name, null, { outcome, reason: err.problem, server: null }));
        log.warn({ profile: profile.name, reason: err.problem }, `enrollment refused: ${err.message}`);
        return status === 400 ? json(400, { error: err.message }) : json(403, { error: 'the MachineInfo signature was not accepted', reason: err.problem });
      }
      const standing = await standingOf(config, profile, info.SERIAL);
      const d = decide({ info, profile: profile.name, enroll, unknownSerials: enrollment.unknownSerials, standing });
      const fields = { profile: profile.name, serial: info.SERIAL, server: d.server, product: info.PRODUCT, osVersion: info.OS_VERSION ?? null, build: info.VERSION, signer, reason: d.reason };
      if (d.outcome === 'held-for-update' && d.updateRequired) {
        await record(attempt(profile.name, info, { outcome: d.outcome, reason: d.reason, server: d.server }));
        log.info(fields, `enrollment held for an OS update: ${d.message}`);
        // Apple: the 403 body's Content-Type must say what it is (JSON here).
        return json(403, d.updateRequired, 'application/json');
      }
      if (d.outcome === 'refused') {
        await record(attempt(profile.name, info, { outcome: d.outcome, reason: d.reason, server: d.server }));
        log.warn(fields, `enrollment refused: ${d.message}`);
        return json(403, { error: 'this device is not enrolled through this profile', reason: d.reason });
      }
      let built: { body: Buffer; signed: boolean };
      try {
        built = buildMobileconfig(enrollment, await material(enrollment));
      } catch (err) {
        // A missing secret or unreadable signing identity is the operator's problem, not the device's: 500,
        // nothing recorded against the device, and the message names files or variables, never values.
        log.error({ profile: profile.name, enrollment: enrollment.name, err: (err as Error).message }, 'enrollment profile could not be built');
        return json(500, { error: 'the enrollment profile could not be built; see the controller log' });
      }
      await record(attempt(profile.name, info, { outcome: 'enrolled', reason: d.reason, server: d.server }));
      log.info({ ...fields, signed: built.signed }, `enrollment profile served: ${d.message}`);
      return { status: 200, contentType: MOBILECONFIG_CONTENT_TYPE, body: built.body };
    },
  };
}

/**
 * A secret reader under the operator's trust policy (config/trust.ts: inside the secrets directory, the
 * `DEPCTL_` prefix), for the composition root. Errors name the file or variable, never a value.
 */
export function secretReader(policy: TrustPolicy, env: Readonly<Record<string, string | undefined>>): (ref: SecretRef) => Promise<Buffer> {
  return (ref) => readSecretRef(ref, policy, env, 'enrollment secret');
}
