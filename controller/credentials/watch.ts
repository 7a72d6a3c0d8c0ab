/**
 * Watching every yearly Apple credential (issue 16, item 3): DEP server tokens (already read when a server is
 * connected), the APNs push certificate and Apps and Books tokens (read from their files each pass). Each gets
 * an expiry level at 30/14/7/1 days, a message with the renewal steps, one notification per threshold, and a
 * value of the metric `depctl_credential_expiry_timestamp_seconds{kind,name}`.
 *
 * An APNs certificate keeps its topic for life: a renewal in the Apple Push Certificates Portal keeps it, a new
 * certificate gets another one, and every enrolled device would stop answering pushes (they only accept the
 * topic of their enrollment profile). The topic of the first certificate read is recorded in the store (as an
 * audit entry of the pseudo-server `credential:<name>`, so every backend has it without a schema change), and a
 * certificate with another topic is refused: the one recorded stays current.
 */
import type { SecretRef } from '../config/types.js';
import { readSecretRef, type TrustPolicy } from '../config/trust.js';
import type { AuditEntry, AuditRecord } from '../store/ports.js';
import type { KeyedNotification } from '../notify/events.js';
import { CredentialFileError, parseApnsCertificate, parseVppToken } from './parse.js';
import type { CredentialDecl, CredentialKind } from './types.js';

/** The days before expiry at which a credential is reported and notified (as for DEP tokens). */
export const CREDENTIAL_THRESHOLDS = [30, 14, 7, 1] as const;

const DAY_MS = 86_400_000;

/** How urgent a credential is. */
export type CredentialLevel = 'ok' | 'warning' | 'critical' | 'expired' | 'error';

/** One credential as plan, status, notifications and metrics see it. Never holds a secret. */
export interface CredentialStatus {
  kind: CredentialKind;
  name: string;
  /** ISO 8601 expiry, or null when the file could not be read. */
  expiresAt: string | null;
  /** Whole days left (negative once expired), or null when unknown. */
  daysLeft: number | null;
  level: CredentialLevel;
  /** One sentence: when it expires, or why it cannot be read or was refused. */
  message: string;
  /** How to renew it, step by step (shown for warnings, errors and expiry). */
  renewal: string[];
  /** apns: the recorded push topic. */
  topic?: string;
  /** vpp: the location the token belongs to. */
  location?: string;
}

/** Renewal steps per kind, in the order an administrator does them (the README runbook says the same). */
export const RENEWAL_STEPS: Readonly<Record<CredentialKind, readonly string[]>> = {
  'dep-token': [
    'Apple Business Manager (or Apple School Manager): Preferences → your MDM server → Download Token',
    'place the .p7m at the path of spec.token (depctl keys rotate first to renew the key as well)',
    'depctl decrypts it, checks GET /account names the same MDM server, and uses it from the next pass',
  ],
  apns: [
    'on the Mac or PC that made the current certificate, create a CSR signed by your MDM vendor (or your own signing certificate)',
    'Apple Push Certificates Portal (identity.apple.com), signed in with the SAME Apple Account: Renew the existing certificate (never Create a new one: a new topic means re-enrolling every device)',
    'download the renewed .pem, combine it with its private key as your MDM expects, and place it at the path of spec.certificate',
    'depctl checks the topic is the one recorded and reads the new expiry',
  ],
  vpp: [
    'Apple Business Manager (or Apple School Manager): Preferences → Payments and Billing → Content Tokens → download the token of this location',
    'place the .vpptoken at the path of spec.token (and upload it to your MDM)',
    'depctl reads its new expDate on the next pass',
  ],
};

const WHAT: Record<CredentialKind, string> = { 'dep-token': 'the DEP server token', apns: 'the APNs push certificate', vpp: 'the Apps and Books token' };

/** The level of a credential expiring at `expiresAt`: warning within 30 days, critical within 7, expired after. */
export function expiryLevel(expiresAt: Date, now: Date): { level: CredentialLevel; daysLeft: number } {
  const ms = expiresAt.getTime() - now.getTime();
  const daysLeft = Math.floor(ms / DAY_MS);
  if (ms <= 0) return { level: 'expired', daysLeft };
  if (daysLeft <= 7) return { level: 'critical', daysLeft };
  if (daysLeft <= 30) return { level: 'warning', daysLeft };
  return { level: 'ok', daysLeft };
}

/** A status for a credential whose expiry is known. */
export function expiryStatus(kind: CredentialKind, name: string, expiresAt: Date, now: Date, extra: { topic?: string; location?: string } = {}): CredentialStatus {
  const { level, daysLeft } = expiryLevel(expiresAt, now);
  const when = expiresAt.toISOString().slice(0, 10);
  const message =
    level === 'expired'
      ? `${WHAT[kind]} ${name} expired on ${when}; renew it now`
      : level === 'ok'
        ? `${WHAT[kind]} ${name} expires on ${when} (${daysLeft} days left)`
        : `${WHAT[kind]} ${name} expires in ${daysLeft} day(s), on ${when}; renew it`;
  return { kind, name, expiresAt: expiresAt.toISOString(), daysLeft, level, message, renewal: [...RENEWAL_STEPS[kind]], ...extra };
}

/** The DEP tokens of the connected servers, as credentials. */
export function depTokenStatuses(handles: readonly { name: string; tokenExpiresAt: Date | null }[], now: Date): CredentialStatus[] {
  return handles.filter((h) => h.tokenExpiresAt !== null).map((h) => expiryStatus('dep-token', h.name, h.tokenExpiresAt as Date, now));
}

/** What checkCredentials reads from and records in the store. */
export interface CredentialStore {
  readAudit(query: { server?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]>;
  appendAudit(entries: readonly AuditEntry[]): Promise<void>;
}

/** The pseudo-server under which a credential's recorded facts are kept in the audit log. */
export function credentialAuditServer(name: string): string {
  return `credential:${name}`;
}

/** Reads a secret reference (the controller's readSecret). */
export type SecretReader = (ref: SecretRef, what: string) => Promise<Buffer>;

/**
 * Reads each declared credential and returns its status. An APNs certificate's topic is recorded the first
 * time; a certificate with another topic is an error (refused), reported against the recorded one.
 */
export async function checkCredentials(decls: readonly CredentialDecl[], read: SecretReader, store: CredentialStore, now: Date): Promise<CredentialStatus[]> {
  const out: CredentialStatus[] = [];
  for (const d of decls) {
    try {
      if (d.type === 'vpp') {
        const info = parseVppToken(await read(d.token, 'Apps and Books token'));
        out.push(expiryStatus('vpp', d.name, info.expiresAt, now, { location: info.location }));
        continue;
      }
      const password = d.password ? (await read(d.password, 'certificate password')).toString('utf8').replace(/\r?\n$/, '') : undefined;
      const info = parseApnsCertificate(await read(d.certificate, 'push certificate'), password);
      const recorded = await recordedApns(store, d.name);
      if (recorded && recorded.topic !== info.topic) {
        out.push({
          kind: 'apns',
          name: d.name,
          expiresAt: recorded.expiresAt,
          daysLeft: recorded.expiresAt ? expiryLevel(new Date(recorded.expiresAt), now).daysLeft : null,
          level: 'error',
          message:
            `the APNs certificate ${d.name} was refused: its topic ${info.topic} differs from the recorded ${recorded.topic}; devices enrolled with the recorded topic would stop answering pushes. ` +
            'It was created, not renewed: renew the certificate with the recorded topic in the Apple Push Certificates Portal (same Apple Account) and put it back; the recorded certificate stays current',
          renewal: [...RENEWAL_STEPS.apns],
          topic: recorded.topic,
        });
        continue;
      }
      if (!recorded || recorded.fingerprint !== info.fingerprint) {
        await store.appendAudit([
          { runId: null, server: credentialAuditServer(d.name), serial: null, action: recorded ? 'apns-renewed' : 'apns-recorded', before: recorded ? recordValue(recorded) : null, after: recordValue({ topic: info.topic, fingerprint: info.fingerprint, expiresAt: info.notAfter.toISOString() }), outcome: 'success', appleStatus: null, at: now },
        ]);
      }
      out.push(expiryStatus('apns', d.name, info.notAfter, now, { topic: info.topic }));
    } catch (err) {
      const why = err instanceof CredentialFileError ? err.message : (err as Error).message;
      out.push({ kind: d.type, name: d.name, expiresAt: null, daysLeft: null, level: 'error', message: `${WHAT[d.type]} ${d.name} cannot be read: ${why}`, renewal: [...RENEWAL_STEPS[d.type]] });
    }
  }
  return out;
}

interface RecordedApns {
  topic: string;
  fingerprint: string;
  expiresAt: string | null;
}

function recordValue(r: RecordedApns): string {
  return JSON.stringify({ topic: r.topic, fingerprint: r.fingerprint, expiresAt: r.expiresAt });
}

/** The APNs certificate last recorded for this credential, or null. */
export async function recordedApns(store: CredentialStore, name: string): Promise<RecordedApns | null> {
  let last: RecordedApns | null = null;
  let afterSeq: number | undefined;
  for (;;) {
    const page = await store.readAudit({ server: credentialAuditServer(name), limit: 500, ...(afterSeq !== undefined ? { afterSeq } : {}) });
    for (const e of page) {
      if ((e.action === 'apns-recorded' || e.action === 'apns-renewed') && e.after) {
        try {
          const v = JSON.parse(e.after) as Partial<RecordedApns>;
          if (typeof v.topic === 'string' && typeof v.fingerprint === 'string') last = { topic: v.topic, fingerprint: v.fingerprint, expiresAt: typeof v.expiresAt === 'string' ? v.expiresAt : null };
        } catch {
          // Not ours to judge: a malformed entry is skipped.
        }
      }
    }
    if (page.length < 500) return last;
    afterSeq = page[page.length - 1]?.seq;
  }
}

/**
 * One notification per credential per threshold (30, 14, 7, 1 days, then expired), and one per error
 * message; the key makes a repeated pass send nothing new, and a renewed credential (new expiry) start over.
 */
export function credentialNotifications(statuses: readonly CredentialStatus[]): KeyedNotification[] {
  const out: KeyedNotification[] = [];
  for (const s of statuses) {
    if (s.kind === 'dep-token') continue; // notified per server by notificationsFor (token-expiry)
    if (s.level === 'error') {
      out.push({ key: `credential-error:${s.kind}:${s.name}:${s.message}`, notification: { kind: 'credential-expiry', severity: 'critical', server: null, text: `depctl: ${s.message}`, details: { credential: s.name, credentialKind: s.kind } } });
      continue;
    }
    if (s.daysLeft === null || s.expiresAt === null) continue;
    const days = s.daysLeft;
    const threshold = s.level === 'expired' ? 'expired' : [...CREDENTIAL_THRESHOLDS].reverse().find((t) => days <= t);
    if (threshold === undefined) continue;
    const steps = s.renewal.map((x, i) => `${i + 1}. ${x}`).join(' ');
    out.push({
      key: `credential:${s.kind}:${s.name}:${threshold}:${s.expiresAt.slice(0, 10)}`,
      notification: { kind: 'credential-expiry', severity: s.level === 'warning' ? 'warning' : 'critical', server: null, text: `depctl: ${s.message}. ${steps}`, details: { credential: s.name, credentialKind: s.kind, daysLeft: days, expiresAt: s.expiresAt, threshold: String(threshold) } },
    });
  }
  return out;
}

/** Reads references under the operator's trust policy (config/trust.ts: the secrets directory, the `DEPCTL_` prefix). */
export function secretReader(policy: TrustPolicy, env: Readonly<Record<string, string | undefined>>): SecretReader {
  return (ref, what) => readSecretRef(ref, policy, env, what);
}

/** The statuses of every credential of a pass: the DEP tokens of the connected servers, then the declared ones. */
export async function watchCredentials(
  decls: readonly CredentialDecl[],
  handles: readonly { name: string; tokenExpiresAt: Date | null }[],
  policy: TrustPolicy,
  env: Readonly<Record<string, string | undefined>>,
  store: CredentialStore,
  now: Date,
): Promise<CredentialStatus[]> {
  return [...depTokenStatuses(handles, now), ...(await checkCredentials(decls, secretReader(policy, env), store, now))];
}
