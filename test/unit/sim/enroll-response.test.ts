import { build } from 'plist';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readEnrollResponse } from '../../../controller/sim/enroll-response.js';

const res = (status: number, contentType: string | null, body: string | Buffer) => ({ status, contentType, body: Buffer.from(body) });
const aspen = 'application/x-apple-aspen-config';

afterEach(() => vi.restoreAllMocks());

describe('readEnrollResponse', () => {
  it('summarises an ACME enrollment without its client identifier', () => {
    const profile = build({
      PayloadType: 'Configuration',
      PayloadIdentifier: 'p',
      PayloadUUID: 'U0',
      PayloadContent: [
        { PayloadType: 'com.apple.security.acme', PayloadIdentifier: 'p.acme', PayloadUUID: 'U1', DirectoryURL: 'https://acme.example.com/dir', ClientIdentifier: 'one-time-secret', KeyType: 'ECSECPrimeRandom', KeySize: 384, HardwareBound: true },
        { PayloadType: 'com.apple.mdm', PayloadIdentifier: 'p.mdm', PayloadUUID: 'U2', ServerURL: 'https://mdm.example.com/mdm', Topic: 'com.apple.mgmt.X', ServerCapabilities: ['com.apple.mdm.per-user-connections'] },
      ],
    });
    const out = readEnrollResponse(res(200, `${aspen}; charset=utf-8`, profile));
    expect(out).toMatchObject({
      kind: 'enrolled',
      signature: null,
      profile: { PayloadIdentifier: 'p', PayloadUUID: 'U0' },
      payloads: [
        { PayloadType: 'com.apple.security.acme', details: { DirectoryURL: 'https://acme.example.com/dir', KeySize: 384, HardwareBound: true, ClientIdentifier: '(set, not shown)' } },
        { PayloadType: 'com.apple.mdm', details: { ServerURL: 'https://mdm.example.com/mdm', Topic: 'com.apple.mgmt.X', ServerCapabilities: '["com.apple.mdm.per-user-connections"]' } },
      ],
    });
    expect(JSON.stringify(out)).not.toContain('one-time-secret');
  });

  it('turns broken bodies into errors, and keeps the XML parser quiet', () => {
    const spy = vi.spyOn(console, 'error');
    for (const body of ['<plist><dict><key>x</dict>', 'plain text', Buffer.from([0x30, 0x82, 0x01])]) {
      expect(readEnrollResponse(res(200, aspen, body))).toMatchObject({ kind: 'error', reason: expect.stringContaining('unreadable') as unknown });
    }
    expect(readEnrollResponse(res(200, aspen, build({ PayloadType: 'com.apple.mdm' })))).toMatchObject({ kind: 'error', reason: expect.stringContaining('not "Configuration"') as unknown });
    expect(readEnrollResponse(res(403, 'application/xml', '<oops'))).toMatchObject({ kind: 'refused', body: '<oops' });
    expect(spy).not.toHaveBeenCalled();
  });

  it('reads the software update error only with its code and an OSVersion', () => {
    const json = (v: unknown) => res(403, 'application/json', JSON.stringify(v));
    expect(readEnrollResponse(json({ code: 'com.apple.softwareupdate.required', details: { OSVersion: '14.6' } }))).toEqual({ kind: 'os-update-required', status: 403, contentType: 'application/json', OSVersion: '14.6' });
    expect(readEnrollResponse(json({ code: 'com.apple.softwareupdate.required', details: {} })).kind).toBe('refused');
    expect(readEnrollResponse(json({ code: 'something.else', details: { OSVersion: '14.6' } })).kind).toBe('refused');
    expect(readEnrollResponse(res(401, null, ''))).toEqual({ kind: 'error', status: 401, contentType: null, reason: 'not an answer a device can use', body: '' });
    expect(readEnrollResponse(res(503, 'application/json', '{}'))).toMatchObject({ kind: 'error', reason: expect.stringContaining('first pass') as unknown });
  });

  it('keeps at most 2 KiB of an error body', () => {
    const out = readEnrollResponse(res(500, 'text/plain', 'x'.repeat(5000)));
    expect(out.kind === 'error' && out.body).toBe(`${'x'.repeat(2048)}… (5000 bytes)`);
  });
});
