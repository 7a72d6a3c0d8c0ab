import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialFileError, parseApnsCertificate, parseVppToken } from '../../../controller/credentials/parse.js';
import { checkCredentials, credentialNotifications, depTokenStatuses, expiryLevel, expiryStatus, recordedApns, type CredentialStatus } from '../../../controller/credentials/watch.js';
import type { CredentialDecl } from '../../../controller/credentials/types.js';
import type { SecretRef } from '../../../controller/config/types.js';
import { openStore, type Store } from '../../../controller/store/index.js';

const DAY = 86_400_000;
const UID = '0.9.2342.19200300.100.1.1';

/** A push certificate as the Apple Push Certificates Portal issues it: CN APSP:<uuid>, UID the MDM topic. */
function pushCertificate(topicUuid: string, notAfter: Date): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey; pem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0' + forge.util.bytesToHex(forge.random.getBytesSync(8));
  cert.validity.notBefore = new Date(notAfter.getTime() - 365 * DAY);
  cert.validity.notAfter = notAfter;
  const subject = [
    { type: UID, value: `com.apple.mgmt.External.${topicUuid}` },
    { shortName: 'CN', value: `APSP:${topicUuid}` },
    { shortName: 'C', value: 'FR' },
  ];
  cert.setSubject(subject);
  cert.setIssuer([{ shortName: 'CN', value: 'Apple Application Integration 2 Certification Authority' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey, pem: forge.pki.certificateToPem(cert) };
}

function pkcs12(c: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }, password: string): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(c.key, [c.cert], password, { algorithm: '3des' });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

function vppToken(expDate: string, orgName: string): Buffer {
  return Buffer.from(Buffer.from(JSON.stringify({ token: 'eyJzZWNyZXQtdnBwLXRva2VuLXZhbHVlIn0=', expDate, orgName })).toString('base64'));
}

describe('credential files', () => {
  const notAfter = new Date('2027-03-01T12:00:00Z');

  it('reads the topic and expiry of a PEM push certificate (a key next to it is ignored)', () => {
    const c = pushCertificate('3f1c2d4e-0000-4000-8000-00000000abcd', notAfter);
    const pem = Buffer.from(forge.pki.privateKeyToPem(c.key) + c.pem);
    const info = parseApnsCertificate(pem);
    expect(info.topic).toBe('com.apple.mgmt.External.3f1c2d4e-0000-4000-8000-00000000abcd');
    expect(info.notAfter.toISOString()).toBe('2027-03-01T12:00:00.000Z');
    expect(info.commonName).toBe('APSP:3f1c2d4e-0000-4000-8000-00000000abcd');
    expect(info.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reads a PKCS#12 with its password, and says which is wrong: no password, a wrong one', () => {
    const c = pushCertificate('aaaaaaaa-1111-4111-8111-111111111111', notAfter);
    const p12 = pkcs12(c, 'p12-secret');
    expect(parseApnsCertificate(p12, 'p12-secret').topic).toBe('com.apple.mgmt.External.aaaaaaaa-1111-4111-8111-111111111111');
    const noPassword = (() => { try { parseApnsCertificate(p12); } catch (e) { return e; } })() as CredentialFileError;
    expect(noPassword).toBeInstanceOf(CredentialFileError);
    expect(noPassword.code).toBe('password-required');
    const wrong = (() => { try { parseApnsCertificate(p12, 'nope'); } catch (e) { return e; } })() as CredentialFileError;
    expect(wrong.code).toBe('wrong-password');
    expect(wrong.message).not.toContain('nope');
  });

  it('refuses a certificate without an MDM topic, a key alone, and garbage', () => {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 1024 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = '01';
    cert.setSubject([{ shortName: 'CN', value: 'not a push cert' }]);
    cert.setIssuer([{ shortName: 'CN', value: 'x' }]);
    cert.sign(keys.privateKey);
    expect(() => parseApnsCertificate(Buffer.from(forge.pki.certificateToPem(cert)))).toThrow(/no MDM push topic/);
    expect(() => parseApnsCertificate(Buffer.from(forge.pki.privateKeyToPem(keys.privateKey)))).toThrow(/without a CERTIFICATE block/);
    expect(() => parseApnsCertificate(Buffer.from('hello'))).toThrow(CredentialFileError);
  });

  it('reads an Apps and Books token: location and expDate with a -0700 offset; refuses other files without quoting them', () => {
    const info = parseVppToken(vppToken('2026-10-09T14:34:10-0700', 'Lycée Voltaire - Paris'));
    expect(info.location).toBe('Lycée Voltaire - Paris');
    expect(info.expiresAt.toISOString()).toBe('2026-10-09T21:34:10.000Z');
    expect(info.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const bad = Buffer.from(Buffer.from(JSON.stringify({ token: 'SECRET-VALUE', orgName: 'x' })).toString('base64'));
    expect(() => parseVppToken(bad)).toThrow(CredentialFileError);
    try {
      parseVppToken(bad);
    } catch (e) {
      expect((e as Error).message).not.toContain('SECRET-VALUE');
    }
  });
});

describe('expiry levels and notifications with a manual clock', () => {
  const expires = new Date('2027-01-31T00:00:00Z');

  it('is ok above 30 days, a warning from 30, critical from 7, expired at the instant', () => {
    expect(expiryLevel(expires, new Date(expires.getTime() - 31 * DAY))).toEqual({ level: 'ok', daysLeft: 31 });
    expect(expiryLevel(expires, new Date(expires.getTime() - 30 * DAY))).toEqual({ level: 'warning', daysLeft: 30 });
    expect(expiryLevel(expires, new Date(expires.getTime() - 7 * DAY))).toEqual({ level: 'critical', daysLeft: 7 });
    expect(expiryLevel(expires, expires).level).toBe('expired');
  });

  it('notifies once per threshold (30/14/7/1, then expired) as the clock moves, for each kind', () => {
    const sent = new Set<string>();
    const delivered: { day: number; key: string; text: string }[] = [];
    for (let day = 40; day >= -2; day--) {
      const now = new Date(expires.getTime() - day * DAY);
      const statuses: CredentialStatus[] = [
        ...depTokenStatuses([{ name: 'paris', tokenExpiresAt: expires }], now),
        expiryStatus('apns', 'push', expires, now, { topic: 'com.apple.mgmt.External.x' }),
        expiryStatus('vpp', 'paris-location', expires, now, { location: 'Paris' }),
      ];
      for (const n of credentialNotifications(statuses)) {
        if (sent.has(n.key)) continue;
        sent.add(n.key);
        delivered.push({ day, key: n.key, text: n.notification.text });
      }
    }
    for (const kind of ['apns', 'vpp'] as const) {
      const mine = delivered.filter((d) => d.key.startsWith(`credential:${kind}:`));
      expect(mine.map((d) => d.day)).toEqual([30, 14, 7, 1, 0]);
      expect(mine.map((d) => d.key.split(':')[3])).toEqual(['30', '14', '7', '1', 'expired']);
      expect(mine[4]?.text).toMatch(/expired on 2027-01-31/);
      expect(mine[0]?.text).toMatch(/expires in 30 day\(s\)/);
    }
    // DEP tokens are notified per server by notificationsFor (token-expiry), not twice.
    expect(delivered.some((d) => d.key.startsWith('credential:dep-token'))).toBe(false);
    expect(delivered.find((d) => d.key.startsWith('credential:apns:'))?.text).toContain('Renew the existing certificate');
  });

});

/** The real backends: SQLite and memory always, PostgreSQL when DEPCTL_TEST_POSTGRES_URL names a server. */
const pgUrl = process.env['DEPCTL_TEST_POSTGRES_URL'];
const backends: [string, (dir: string) => Promise<{ store: Store; destroy: () => Promise<void> }>][] = [
  ['sqlite', async (dir) => ({ store: await openStore(`sqlite:${join(dir, 'state.db')}`), destroy: async () => {} })],
  ['memory', async () => ({ store: await openStore('memory:'), destroy: async () => {} })],
  ...(pgUrl
    ? [
        [
          'postgres',
          async () => {
            const schema = `depctl_t_${randomBytes(6).toString('hex')}`;
            return {
              store: await openStore(pgUrl, { schema, poolSize: 2 }),
              destroy: async () => {
                const client = new pg.Client({ connectionString: pgUrl });
                await client.connect();
                try {
                  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
                } finally {
                  await client.end();
                }
              },
            };
          },
        ] as [string, (dir: string) => Promise<{ store: Store; destroy: () => Promise<void> }>],
      ]
    : []),
];

describe.each(backends)('checkCredentials against a real %s store', (_name, open) => {
  let dir: string;
  let store: Store;
  let destroy: () => Promise<void>;
  const files = new Map<string, Buffer>();
  const read = async (ref: SecretRef): Promise<Buffer> => {
    const key = 'file' in ref ? ref.file : ref.env;
    const b = files.get(key);
    if (!b) throw new Error(`cannot read ${key} (not found)`);
    return b;
  };
  const src = { file: 'credentials.yaml', line: 1, column: 1 };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'depctl-cred-'));
    ({ store, destroy } = await open(dir));
    files.clear();
  });
  afterEach(async () => {
    await store.close();
    await destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('records the APNs topic, accepts a renewal with the same topic, refuses one with another topic and keeps the recorded one', async () => {
    const now = new Date('2026-12-06T00:00:00Z');
    const decls: CredentialDecl[] = [
      { name: 'push', type: 'apns', certificate: { file: 'apns/push.p12' }, password: { env: 'P12' }, source: src },
      { name: 'paris', type: 'vpp', token: { file: 'vpp/paris.vpptoken' }, source: src },
    ];
    const first = pushCertificate('11111111-2222-4333-8444-555555555555', new Date('2026-12-20T00:00:00Z'));
    files.set('apns/push.p12', pkcs12(first, 'pw'));
    files.set('P12', Buffer.from('pw\n'));
    files.set('vpp/paris.vpptoken', vppToken('2027-11-01T10:00:00+0100', 'Paris'));

    const s1 = await checkCredentials(decls, read, store, now);
    expect(s1[0]).toMatchObject({ kind: 'apns', name: 'push', level: 'warning', daysLeft: 14, topic: 'com.apple.mgmt.External.11111111-2222-4333-8444-555555555555' });
    expect(s1[1]).toMatchObject({ kind: 'vpp', name: 'paris', level: 'ok', location: 'Paris', expiresAt: '2027-11-01T09:00:00.000Z' });
    expect((await recordedApns(store, 'push'))?.topic).toBe('com.apple.mgmt.External.11111111-2222-4333-8444-555555555555');

    // Renewed in the portal: same topic, a year more.
    const renewed = pushCertificate('11111111-2222-4333-8444-555555555555', new Date('2027-12-20T00:00:00Z'));
    files.set('apns/push.p12', pkcs12(renewed, 'pw'));
    const s2 = await checkCredentials(decls, read, store, now);
    expect(s2[0]).toMatchObject({ level: 'ok', expiresAt: '2027-12-20T00:00:00.000Z' });
    expect((await recordedApns(store, 'push'))?.expiresAt).toBe('2027-12-20T00:00:00.000Z');

    // Created instead of renewed: another topic. Refused; the recorded certificate stays current.
    const created = pushCertificate('99999999-8888-4777-8666-555555555555', new Date('2028-01-01T00:00:00Z'));
    files.set('apns/push.p12', pkcs12(created, 'pw'));
    const s3 = await checkCredentials(decls, read, store, now);
    expect(s3[0]).toMatchObject({ level: 'error', topic: 'com.apple.mgmt.External.11111111-2222-4333-8444-555555555555', expiresAt: '2027-12-20T00:00:00.000Z' });
    expect(s3[0]?.message).toContain('differs from the recorded com.apple.mgmt.External.11111111-2222-4333-8444-555555555555');
    expect(s3[0]?.message).toContain('would stop answering');
    expect((await recordedApns(store, 'push'))?.topic).toBe('com.apple.mgmt.External.11111111-2222-4333-8444-555555555555');
    const n = credentialNotifications(s3);
    expect(n.find((x) => x.notification.kind === 'credential-expiry' && x.key.startsWith('credential-error:apns:push'))?.notification.severity).toBe('critical');
    const audit = await store.readAudit({ server: 'credential:push', limit: 10 });
    expect(audit.map((a) => a.action)).toEqual(['apns-recorded', 'apns-renewed']);
  });

  it('reports an unreadable file and a wrong password as errors with the renewal steps, never the password', async () => {
    const c = pushCertificate('11111111-2222-4333-8444-555555555555', new Date('2027-12-20T00:00:00Z'));
    files.set('apns/push.p12', pkcs12(c, 'right-password'));
    files.set('P12', Buffer.from('wrong-password'));
    const s = await checkCredentials(
      [
        { name: 'push', type: 'apns', certificate: { file: 'apns/push.p12' }, password: { env: 'P12' }, source: src },
        { name: 'lyon', type: 'vpp', token: { file: 'vpp/lyon.vpptoken' }, source: src },
      ],
      read,
      store,
      new Date(),
    );
    expect(s[0]).toMatchObject({ level: 'error', expiresAt: null });
    expect(s[0]?.message).toContain('PKCS#12 password does not open the file');
    expect(s[0]?.message).not.toContain('wrong-password');
    expect(s[1]?.message).toContain('cannot read vpp/lyon.vpptoken (not found)');
    expect(s[1]?.renewal[0]).toContain('Payments and Billing');
  });
});
