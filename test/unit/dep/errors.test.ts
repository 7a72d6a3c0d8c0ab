import { describe, expect, it } from 'vitest';
import {
  DepAuthError,
  DepHttpError,
  DepNetworkError,
  DepTimeoutError,
  isCursorExhausted,
  isCursorExpired,
  isCursorInvalid,
  isProfileNotFound,
  isTerminalAuthError,
  isTransientDepError,
  parseDepErrorCode,
} from '../../../controller/dep/errors.js';
import { TEST_TOKEN } from './fake-dep-server.js';

const http = (status: number, body: string, endpoint = '/server/devices'): DepHttpError =>
  new DepHttpError({ status, method: 'POST', endpoint, body });

describe('parseDepErrorCode', () => {
  it("reads Apple's plain-text body and depsim's quoted-JSON body", () => {
    expect(parseDepErrorCode('EXPIRED_CURSOR')).toBe('EXPIRED_CURSOR');
    expect(parseDepErrorCode('"INVALID_CURSOR"')).toBe('INVALID_CURSOR');
    expect(parseDepErrorCode('EXHAUSTED_CURSOR\n')).toBe('EXHAUSTED_CURSOR');
  });
  it('finds a code inside a longer body, preferring the longest match', () => {
    expect(parseDepErrorCode('error: PROFILE_NOT_FOUND (uuid 1)')).toBe('PROFILE_NOT_FOUND');
    expect(parseDepErrorCode('NOT_FOUND')).toBe('NOT_FOUND');
    expect(parseDepErrorCode('{"code":"T_C_NOT_SIGNED"}')).toBe('T_C_NOT_SIGNED');
  });
  it('returns undefined for bodies without a known code', () => {
    expect(parseDepErrorCode('<html>Bad gateway</html>')).toBeUndefined();
    expect(parseDepErrorCode('')).toBeUndefined();
  });
});

describe('DepHttpError', () => {
  it('keeps status, method, endpoint, code and a message naming them', () => {
    const err = http(400, '"EXPIRED_CURSOR"', '/devices/sync');
    expect(err).toMatchObject({ status: 400, method: 'POST', endpoint: '/devices/sync', code: 'EXPIRED_CURSOR', transient: false });
    expect(err.message).toBe('DEP POST /devices/sync failed: HTTP 400 EXPIRED_CURSOR');
  });

  it('keeps at most 1 KiB of body, marked as cut', () => {
    const err = http(500, 'x'.repeat(10_000));
    expect(Buffer.byteLength(err.body)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(err.body)).toBeGreaterThan(1000);
    expect(err.body).toMatch(/^x+…\[truncated\]$/);
    expect(http(500, 'short body').body).toBe('short body');
    expect(err.transient).toBe(true);
  });

  it('scrubs secrets from the body at construction and never puts them in the message', () => {
    const body = `bad session ${TEST_TOKEN.access_secret} and ${TEST_TOKEN.consumer_secret} and SESSIONTOKEN123`;
    const err = new DepHttpError({ status: 400, method: 'GET', endpoint: '/account', body, secrets: [TEST_TOKEN.access_secret, 'SESSIONTOKEN123'] });
    for (const s of [TEST_TOKEN.access_secret, TEST_TOKEN.consumer_secret, 'SESSIONTOKEN123']) {
      expect(err.body).not.toContain(s);
      expect(err.message).not.toContain(s);
      expect(JSON.stringify(err)).not.toContain(s);
    }
  });
});

describe('predicates', () => {
  it('recognise the cursor codes only on 400', () => {
    expect(isCursorExpired(http(400, 'EXPIRED_CURSOR'))).toBe(true);
    expect(isCursorInvalid(http(400, '"INVALID_CURSOR"'))).toBe(true);
    expect(isCursorExhausted(http(400, 'EXHAUSTED_CURSOR'))).toBe(true);
    expect(isCursorExpired(http(400, 'INVALID_CURSOR'))).toBe(false);
    expect(isCursorExpired(http(500, 'EXPIRED_CURSOR'))).toBe(false);
    expect(isCursorExpired(new Error('EXPIRED_CURSOR'))).toBe(false);
  });

  it('treat 400 NOT_FOUND, 404 PROFILE_NOT_FOUND and a bare 404 on assign as an unknown profile', () => {
    expect(isProfileNotFound(http(400, 'NOT_FOUND', '/profile'))).toBe(true);
    expect(isProfileNotFound(http(404, 'PROFILE_NOT_FOUND', '/profile'))).toBe(true);
    expect(isProfileNotFound(http(404, '', '/profile/devices'))).toBe(true);
    expect(isProfileNotFound(http(400, 'DEVICE_ID_REQUIRED', '/profile/devices'))).toBe(false);
    expect(isProfileNotFound(http(404, '', '/device/replacementDetails'))).toBe(false);
  });

  it('tell terminal, transient and other errors apart', () => {
    const terminal = new DepAuthError({ status: 403, method: 'GET', endpoint: '/account', body: 'T_C_NOT_SIGNED' }, 'terms-not-signed');
    expect(isTerminalAuthError(terminal)).toBe(true);
    expect(isTransientDepError(terminal)).toBe(false);
    expect(terminal.message).toContain('accept');
    expect(isTransientDepError(new DepNetworkError('GET', '/account', 'ECONNRESET', 'socket hang up'))).toBe(true);
    expect(isTransientDepError(new DepTimeoutError('GET', '/account', 1000))).toBe(true);
    expect(isTransientDepError(http(429, ''))).toBe(true);
    expect(isTransientDepError(http(400, 'INVALID_CURSOR'))).toBe(false);
    expect(isTerminalAuthError(http(403, 'FORBIDDEN'))).toBe(false);
  });
});
