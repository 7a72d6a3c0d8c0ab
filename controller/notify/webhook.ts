import { request, type Dispatcher } from 'undici';

/** What a notification is about. */
export type NotificationKind = 'drift' | 'run-failed' | 'run-partial' | 'terms-not-signed' | 'token-expiry' | 'revision-refused' | 'token-renewal' | 'credential-expiry';

/** One notification; `text` is Slack-compatible (incoming webhooks render it). */
export interface Notification {
  kind: NotificationKind;
  severity: 'info' | 'warning' | 'critical';
  server: string | null;
  text: string;
  /** Extra machine-readable fields (counts, revision, expiry); never secrets. */
  details?: Record<string, string | number | boolean | null>;
}

/** What a delivery attempt came to; `error` names the host only, never the URL (it may hold a token). */
export type DeliveryResult = { ok: true } | { ok: false; error: string };

/** Sends notifications somewhere. */
export interface Notifier {
  /** Sends `n`; failures are reported through the notifier's options, never thrown. */
  send(n: Notification): Promise<void>;
  /** Sends `n` and says whether the receiver took it (never throws); `id` is sent along for de-duplication. */
  deliver(n: Notification, id?: string): Promise<DeliveryResult>;
}

/** Options of the webhook notifier. */
export interface WebhookOptions {
  url: string;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  /** Reports a failed delivery (logged by the caller); delivery never throws into the loop. */
  onError?: (err: Error) => void;
}

/**
 * POSTs each notification as JSON: `{ text, kind, severity, server, details, source: "depctl" }`, plus `id` (the
 * outbox row) when delivered from the outbox. Slack and Mattermost incoming webhooks show `text`; other receivers
 * can use the fields. Any answer other than 2xx is a failure. Failures are reported, not thrown.
 */
export function createWebhookNotifier(opts: WebhookOptions): Notifier {
  const deliver = async (n: Notification, id?: string): Promise<DeliveryResult> => {
    try {
      const res = await request(opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: n.text, kind: n.kind, severity: n.severity, server: n.server, details: n.details ?? {}, source: 'depctl', ...(id !== undefined ? { id } : {}) }),
        headersTimeout: opts.timeoutMs ?? 10_000,
        bodyTimeout: opts.timeoutMs ?? 10_000,
        ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`notification webhook answered HTTP ${res.statusCode}`);
      return { ok: true };
    } catch (err) {
      // The URL may carry a token (Slack's do): report the host only.
      const host = safeHost(opts.url);
      return { ok: false, error: `notification to ${host} failed: ${(err as Error).message.split(opts.url).join(host)}` };
    }
  };
  return {
    deliver,
    async send(n) {
      const r = await deliver(n);
      if (!r.ok) opts.onError?.(new Error(r.error));
    },
  };
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the notification URL';
  }
}
