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

/** Sends notifications somewhere. */
export interface Notifier {
  send(n: Notification): Promise<void>;
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
 * POSTs each notification as JSON: `{ text, kind, severity, server, details, source: "depctl" }`. Slack and
 * Mattermost incoming webhooks show `text`; other receivers can use the fields. Failures are reported, not thrown.
 */
export function createWebhookNotifier(opts: WebhookOptions): Notifier {
  return {
    async send(n) {
      try {
        const res = await request(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: n.text, kind: n.kind, severity: n.severity, server: n.server, details: n.details ?? {}, source: 'depctl' }),
          headersTimeout: opts.timeoutMs ?? 10_000,
          bodyTimeout: opts.timeoutMs ?? 10_000,
          ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
        });
        await res.body.dump();
        if (res.statusCode >= 300) throw new Error(`notification webhook answered HTTP ${res.statusCode}`);
      } catch (err) {
        // The URL may carry a token (Slack's do): report the host only.
        const host = safeHost(opts.url);
        opts.onError?.(new Error(`notification to ${host} failed: ${(err as Error).message.replace(opts.url, host)}`));
      }
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

/**
 * Sends each notification once: a key is sent the first time it is seen and not again while it stays
 * active; `settle` forgets keys that are no longer active, so a problem that comes back is notified again.
 * In memory: after a restart, an ongoing problem is notified once more.
 */
export class NotificationGate {
  private readonly sent = new Set<string>();

  constructor(private readonly notifier: Notifier) {}

  /** Sends `n` unless `key` was already sent and is still active. */
  async notify(key: string, n: Notification): Promise<boolean> {
    if (this.sent.has(key)) return false;
    this.sent.add(key);
    await this.notifier.send(n);
    return true;
  }

  /** Forgets sent keys with this prefix that are not in `active` (the problem went away). */
  settle(prefix: string, active: ReadonlySet<string>): void {
    for (const key of this.sent) if (key.startsWith(prefix) && !active.has(key)) this.sent.delete(key);
  }
}
