import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerToken } from '../../controller/dep/types.js';
import { encryptServerToken } from '../../controller/tokens/index.js';
import { runDepctl, type CliResult } from '../helpers/cli.js';
import { appleMessage, opensslEncrypt, opensslKeyPair, randomToken, tempDir, type OpensslPair } from '../fixtures/tokens/openssl.js';

const DAY = 86_400_000;

/** Every secret of a token, and long pieces of them, must be absent from all output. */
function expectNoSecrets(r: CliResult, token: ServerToken): void {
  const out = r.stdout + r.stderr;
  for (const secret of [token.consumer_secret, token.access_token, token.access_secret, token.consumer_key]) {
    expect(out).not.toContain(secret);
    expect(out).not.toContain(secret.slice(3, 19));
  }
  expect(out).not.toMatch(/PRIVATE KEY/);
}

describe('depctl keys generate', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.cleanup());

  it('writes a 0600 key and a certificate in a new 0700 directory, then refuses to overwrite them', async () => {
    const r = await runDepctl(['keys', 'generate', '--out', 'secrets/paris', '--cn', 'paris', '--days', '30'], { cwd: tmp.dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const dir = path.join(tmp.dir, 'secrets/paris');
    const keyPath = path.join(dir, 'depctl-key.pem');
    const certPath = path.join(dir, 'depctl-cert.pem');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyPath, 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(readFileSync(certPath, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(r.stdout).toContain('Upload MDM server public key');
    expect(r.stdout).toContain(certPath);
    expect(r.stdout).not.toMatch(/BEGIN/);

    const key = readFileSync(keyPath, 'utf8');
    const again = await runDepctl(['keys', 'generate', '--out', dir], { cwd: tmp.dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refusing to overwrite .*depctl-key\.pem/);
    expect(readFileSync(keyPath, 'utf8')).toBe(key);
  });

  it('refuses when only the certificate exists, writing nothing', async () => {
    const dir = path.join(tmp.dir, 'half');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'depctl-cert.pem'), 'old');
    const r = await runDepctl(['keys', 'generate', '--out', 'half'], { cwd: tmp.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to overwrite .*depctl-cert\.pem/);
    expect(() => statSync(path.join(dir, 'depctl-key.pem'))).toThrow();
  });

  it('writes into an existing directory, warning when others can read it', async () => {
    const dir = path.join(tmp.dir, 'shared');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const r = await runDepctl(['keys', 'generate', '--out', 'shared'], { cwd: tmp.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*shared is accessible to other users/);
    expect(statSync(path.join(dir, 'depctl-key.pem')).mode & 0o777).toBe(0o600);
  });

  it('exits 2 on usage errors', async () => {
    expect((await runDepctl(['keys', 'generate'], { cwd: tmp.dir })).code).toBe(2);
    expect((await runDepctl(['keys', 'generate', '--out', 'x', '--days', 'ten'], { cwd: tmp.dir })).code).toBe(2);
    expect((await runDepctl(['keys', 'generate', '--out', 'x', '--days', '0'], { cwd: tmp.dir })).code).toBe(2);
    expect(() => statSync(path.join(tmp.dir, 'x'))).toThrow();
  });
});

describe('depctl token inspect', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pair: OpensslPair;
  let token: ServerToken;
  const write = (name: string, data: string | Buffer): string => {
    writeFileSync(path.join(tmp.dir, name), data);
    return name;
  };

  beforeAll(() => {
    tmp = tempDir();
    pair = opensslKeyPair(tmp.dir, 'paris');
    opensslKeyPair(tmp.dir, 'lyon'); // lyon-key.pem: a valid key of another MDM server
    token = randomToken(new Date(Date.now() + 200 * DAY + 3_600_000));
    write('paris.p7m', opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath));
  });
  afterAll(() => tmp.cleanup());

  const inspect = (args: string[]) => runDepctl(['token', 'inspect', ...args], { cwd: tmp.dir });

  it("shows identity and expiry of Apple's .p7m, resolving paths against the working directory", async () => {
    const r = await inspect(['paris.p7m', '--key', 'paris-key.pem']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(path.join(tmp.dir, 'paris.p7m'));
    expect(r.stdout).toContain(`Consumer key: ${token.consumer_key.slice(0, 11)}…`);
    expect(r.stdout).toContain(`Expires:      ${token.access_token_expiry} (200 day(s) left)`);
    expect(r.stdout).toMatch(/Format: +S\/MIME \.p7m, AES-128-CBC/);
    expect(r.stdout).toMatch(/Encrypted to: CN=paris, serial/);
    expect(r.stdout).toMatch(/Status: +valid\n/);
    expectNoSecrets(r, token);
  });

  it('prints JSON with --format json', async () => {
    const r = await inspect(['paris.p7m', '--key', 'paris-key.pem', '--format', 'json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ format: 'smime', encrypted: true, cipher: 'AES-128-CBC', daysLeft: 200, expired: false, status: 'valid' });
    expect(json.expiresAt).toBe(token.access_token_expiry);
    expectNoSecrets(r, token);
  });

  it('inspects our own encryptServerToken output and a decrypted JSON token (no key needed)', async () => {
    write('sim.p7m', encryptServerToken(token, pair.certPem, { cipher: 'aes256' }));
    const sim = await inspect(['sim.p7m', '--key', 'paris-key.pem']);
    expect(sim.code).toBe(0);
    expect(sim.stdout).toMatch(/AES-256-CBC/);
    write('token.json', JSON.stringify(token, null, 2));
    const json = await inspect(['token.json']);
    expect(json.code).toBe(0);
    expect(json.stdout).toMatch(/decrypted token \(not encrypted\)/);
    expectNoSecrets(sim, token);
    expectNoSecrets(json, token);
  });

  it('warns about a token close to expiry but exits 0', async () => {
    const soon = randomToken(new Date(Date.now() + 5 * DAY + 3_600_000));
    write('soon.p7m', opensslEncrypt(tmp.dir, appleMessage(soon), pair.certPath));
    const r = await inspect(['soon.p7m', '--key', 'paris-key.pem']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Status: +valid, expires within 30 days/);
  });

  it('exits 1 for an expired token', async () => {
    const old = randomToken(new Date(Date.now() - 3 * DAY - 3_600_000));
    write('old.p7m', opensslEncrypt(tmp.dir, appleMessage(old), pair.certPath, { cipher: '-des3' }));
    const r = await inspect(['old.p7m', '--key', 'paris-key.pem']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/expired 3 day\(s\) ago/);
    expect(r.stdout).toMatch(/Status: +EXPIRED/);
    expect(r.stderr).toMatch(/the token expired on .*download a new token/);
    expectNoSecrets(r, old);
  });

  it('exits 1 with its own message for a wrong key, a corrupt file and a wrong file type', async () => {
    const wrongKey = await inspect(['paris.p7m', '--key', 'lyon-key.pem']);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/does not decrypt this token: the token was encrypted for the certificate CN=paris/);

    const text = readFileSync(path.join(tmp.dir, 'paris.p7m'), 'utf8');
    write('truncated.p7m', text.slice(0, text.length - 200));
    const corrupt = await inspect(['truncated.p7m', '--key', 'paris-key.pem']);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toMatch(/the token file is corrupt/);

    const certAsToken = await inspect(['paris-cert.pem', '--key', 'paris-key.pem']);
    expect(certAsToken.code).toBe(1);
    expect(certAsToken.stderr).toMatch(/paris-cert\.pem: the token file is an X\.509 certificate/);

    const certAsKey = await inspect(['paris.p7m', '--key', 'paris-cert.pem']);
    expect(certAsKey.code).toBe(1);
    expect(certAsKey.stderr).toMatch(/paris-cert\.pem: the key file is an X\.509 certificate/);

    const messages = [wrongKey, corrupt, certAsToken, certAsKey].map((r) => r.stderr);
    expect(new Set(messages).size).toBe(4);
    for (const r of [wrongKey, corrupt, certAsToken, certAsKey]) {
      expect(r.stdout).toBe('');
      expectNoSecrets(r, token);
    }
  });

  it('reports errors as JSON with --format json', async () => {
    const r = await inspect(['paris.p7m', '--key', 'lyon-key.pem', '--format', 'json']);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('wrong_key');
  });

  it('exits 1 for a missing file and 2 on usage errors', async () => {
    const missing = await inspect(['nope.p7m', '--key', 'paris-key.pem']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read token file .*nope\.p7m \(no such file\)/);
    expect((await inspect([])).code).toBe(2);
    expect((await inspect(['paris.p7m', '--key', 'paris-key.pem', '--format', 'yaml'])).code).toBe(2);
    const noKey = await inspect(['paris.p7m']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/pass --key FILE/);
  });
});
