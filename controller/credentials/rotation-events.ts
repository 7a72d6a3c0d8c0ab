/**
 * What the controller does with a token rotation event (tokens/rotation.ts): log it, write it to the audit
 * log, and notify the refusals and the switch. Messages name files, fingerprint prefixes and Apple's public
 * identity fields only, never key material or token values.
 */
import { createHash } from 'node:crypto';
import type { AuditEntry } from '../reconcile/ports.js';
import type { Notification } from '../notify/webhook.js';
import type { RotationEvent } from '../tokens/rotation.js';

/** Where rotation events go. */
export interface RotationSinks {
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  audit(entries: readonly AuditEntry[]): Promise<void>;
  notify?: (key: string, n: Notification) => Promise<unknown>;
  now: () => Date;
}

/** The audit action of each event, or null when it is not audited. */
const AUDIT_ACTION: Record<RotationEvent['kind'], string | null> = {
  switched: 'token-renewed',
  accepted: 'token-renewed',
  'switch-pending': 'token-renewed',
  refused: 'token-renewal-refused',
  'retired-deleted': 'key-retired',
};

/** Logs, audits and (for refusals and switches) notifies one rotation event. */
export async function handleRotationEvent(e: RotationEvent, sinks: RotationSinks): Promise<void> {
  const fields = { server: e.server, event: e.kind, ...(e.reason ? { reason: e.reason } : {}) };
  if (e.kind === 'refused') sinks.log.error(fields, e.message);
  else if (e.kind === 'switch-pending') sinks.log.warn(fields, e.message);
  else sinks.log.info(fields, e.message);
  const action = AUDIT_ACTION[e.kind];
  if (action) {
    await sinks.audit([{ runId: null, server: e.server, serial: null, action, before: e.before ?? null, after: e.after ?? null, outcome: e.kind === 'refused' ? 'error' : 'success', appleStatus: null, at: sinks.now() }]);
  }
  if (!sinks.notify) return;
  if (e.kind === 'refused') {
    // One message per distinct refusal (same file refused twice for the same reason is not repeated).
    const key = `renewal-refused:${e.server}:${createHash('sha256').update(e.message).digest('hex').slice(0, 16)}`;
    await sinks.notify(key, { kind: 'token-renewal', severity: 'critical', server: e.server, text: `depctl: ${e.message}`, details: { event: 'refused', reason: e.reason ?? null } });
  } else if (e.kind === 'switched' || e.kind === 'switch-pending') {
    await sinks.notify(`renewal-${e.kind}:${e.server}:${e.after ?? ''}`, { kind: 'token-renewal', severity: e.kind === 'switched' ? 'info' : 'warning', server: e.server, text: `depctl: ${e.message}`, details: { event: e.kind, fingerprint: e.after ?? null } });
  }
}
