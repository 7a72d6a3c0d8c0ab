import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** Log output formats (`--log-format`). */
export type LogFormat = 'json' | 'pretty';

/**
 * Fields that must never reach a log line (STYLE rule 3; Flux: "no secrets in logs"). Values under these
 * keys are replaced by pino's redaction; messages are written by depctl and carry no secrets.
 */
export const REDACTED_LOG_PATHS = [
  'token',
  'secret',
  'password',
  'authorization',
  'apiToken',
  'webhookSecret',
  'privateKey',
  'consumer_secret',
  'access_secret',
  'access_token',
  'auth_session_token',
  '*.token',
  '*.secret',
  '*.password',
  '*.authorization',
  '*.privateKey',
  '*.consumer_secret',
  '*.access_secret',
  '*.access_token',
  '*.auth_session_token',
  'headers.authorization',
  'headers["x-adm-auth-session"]',
  'headers["x-hub-signature-256"]',
  'headers["x-gitlab-token"]',
];

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** A destination that turns pino's JSON lines into `HH:MM:SS LEVEL message key=value …` for terminals. */
function prettyStream(write: (s: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const { time, level, msg, pid: _pid, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const t = new Date(Number(time)).toISOString().slice(11, 19);
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
            .join(' ');
          write(`${t} ${LEVEL_NAMES[Number(level)] ?? level} ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`);
        } catch {
          write(`${line}\n`);
        }
      }
      done();
    },
  });
}

/** Creates the process logger: JSON lines (default) or pretty text, secrets redacted. */
export function createLogger(opts: { level: string; format: LogFormat; write: (s: string) => void }): Logger {
  const destination = opts.format === 'pretty' ? prettyStream(opts.write) : new Writable({ write: (c: Buffer, _e, done) => { opts.write(c.toString('utf8')); done(); } });
  return pino({ level: opts.level, base: { service: 'depctl' }, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' } }, destination);
}

export type { Logger };
