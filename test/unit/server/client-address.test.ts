import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { clientAddress, parseTrustedProxies } from '../../../controller/server/client-address.js';
import { AuthGuard } from '../../../controller/server/auth-guard.js';
import { startHarness, type Harness } from './harness.js';

function req(peer: string, xff?: string | string[]): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } } as unknown as IncomingMessage;
}

describe('clientAddress', () => {
  const proxies = parseTrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);

  it('is the peer when no proxy is trusted, whatever the header says', () => {
    expect(clientAddress(req('203.0.113.9', '198.51.100.1'), null)).toBe('203.0.113.9');
    expect(clientAddress(req('::ffff:203.0.113.9'), null)).toBe('203.0.113.9');
  });

  it('ignores the header of a peer that is not a trusted proxy (a client cannot pick its address)', () => {
    expect(clientAddress(req('203.0.113.9', '198.51.100.1'), proxies)).toBe('203.0.113.9');
  });

  it('takes the right-most entry that is not a trusted proxy, through a chain of proxies', () => {
    expect(clientAddress(req('10.1.2.3', '198.51.100.1'), proxies)).toBe('198.51.100.1');
    // The client wrote a fake first entry; the proxies appended the real one and themselves.
    expect(clientAddress(req('::ffff:10.1.2.3', '1.2.3.4, 198.51.100.1, 192.168.1.7'), proxies)).toBe('198.51.100.1');
    expect(clientAddress(req('10.1.2.3', ['1.2.3.4', '2001:db8::5, fd00::1']), proxies)).toBe('2001:db8::5');
  });

  it('stops at a malformed entry (the last good address is the client), and falls back to the peer without a header', () => {
    expect(clientAddress(req('10.1.2.3', 'not-an-ip, 192.168.1.7'), proxies)).toBe('192.168.1.7');
    expect(clientAddress(req('10.1.2.3'), proxies)).toBe('10.1.2.3');
    expect(clientAddress(req('10.1.2.3', '10.9.9.9'), proxies)).toBe('10.9.9.9');
  });

  it('refuses entries that are no address or subnet', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.1/8/1', 'fd00::/129', '10.0.0.0/x']) expect(() => parseTrustedProxies([bad]), bad).toThrow(/invalid trusted proxy/);
    expect(() => parseTrustedProxies(['', ' 127.0.0.1 '])).not.toThrow();
  });
});

describe('behind a trusted proxy, failed authentication is counted per forwarded client', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.server.close();
    h = undefined;
  });
  const post = (url: string, client: string, token: string): Promise<Response> => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': client } });

  it('one client guessing tokens waits; another client behind the same proxy does not', async () => {
    h = await startHarness({ apiToken: 'right-token', authGuard: new AuthGuard({ freeFailures: 2, baseDelayMs: 60_000 }), trustedProxies: parseTrustedProxies(['127.0.0.1']) });
    const url = `${h.url}/api/reconcile`;
    for (const expected of [401, 401, 429]) expect((await post(url, '198.51.100.1', 'wrong')).status).toBe(expected);
    expect((await post(url, '198.51.100.2', 'right-token')).status).toBe(202);
    expect(h.logs()).toContain('"client":"198.51.100.1"');
  });

  it('without trusted proxies the header is ignored: every client on the one address waits together', async () => {
    h = await startHarness({ apiToken: 'right-token', authGuard: new AuthGuard({ freeFailures: 2, baseDelayMs: 60_000 }) });
    const url = `${h.url}/api/reconcile`;
    for (const expected of [401, 401, 429]) expect((await post(url, '198.51.100.1', 'wrong')).status).toBe(expected);
    expect((await post(url, '198.51.100.2', 'right-token')).status).toBe(429);
  });
});
