import { describe, expect, it } from 'vitest';
import { redact, truncateUtf8 } from '../../../controller/util/redact.js';

describe('redact', () => {
  it('replaces known secret values, also when percent-encoded', () => {
    const secret = 'my secret/value';
    expect(redact(`a ${secret} b ${encodeURIComponent(secret)}`, [secret])).toBe('a [REDACTED] b [REDACTED]');
  });

  it('catches Apple token fields and session tokens it was not told about', () => {
    const text =
      'consumer_secret CS_0123456789abcdef0123456789abcdef01234567 token AT_O1234Oabcdef0123O17000 ' +
      '{"auth_session_token":"87A235815B0000"} X-ADM-Auth-Session: 1745786035268O1Oabc';
    const out = redact(text);
    expect(out).not.toMatch(/CS_0123|AT_O1234|87A235815B|1745786035268/);
    expect(out).toContain('"auth_session_token":"[REDACTED]"');
    expect(out).toContain('X-ADM-Auth-Session: [REDACTED]');
  });

  it('ignores empty and very short secrets instead of garbling text', () => {
    expect(redact('a plain message', ['', undefined, 'a'])).toBe('a plain message');
  });
});

describe('truncateUtf8', () => {
  it('keeps short text and cuts long text to the byte budget without splitting characters', () => {
    expect(truncateUtf8('short', 1024)).toBe('short');
    const long = 'é'.repeat(2000);
    const cut = truncateUtf8(long, 1024);
    expect(Buffer.byteLength(cut, 'utf8')).toBeLessThanOrEqual(1024);
    expect(cut).toMatch(/^é+…\[truncated\]$/);
  });
});
