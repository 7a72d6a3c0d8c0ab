import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTrustPolicy, depUrlProblem, readSecretRef, secretRefProblem, SecretRefError, type TrustPolicy } from '../../../controller/config/trust.js';
import { loadConfig } from '../../../controller/config/load.js';
import { makeConfigDir } from '../../helpers/config-dir.js';

// What a configuration (a pull request) may point the controller at: files inside the secrets directory,
// environment variables with the operator's prefix, Apple's host, and whatever else the operator allowed.

let base: string;
let secrets: string;
let outside: string;
let policy: TrustPolicy;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'depctl-trust-'));
  secrets = join(base, 'secrets');
  outside = join(base, 'elsewhere');
  await mkdir(join(secrets, 'paris'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(secrets, 'paris', 'token.p7m'), 'TOKEN');
  await writeFile(join(outside, 'not-a-secret.txt'), 'PRIVATE');
  await symlink(join(outside, 'not-a-secret.txt'), join(secrets, 'paris', 'link-out.p7m'));
  await symlink(join(secrets, 'paris', 'token.p7m'), join(secrets, 'paris', 'link-in.p7m'));
  policy = defaultTrustPolicy(secrets);
});

afterAll(() => rm(base, { recursive: true, force: true }));

describe('secret references', () => {
  it('reads a file inside the secrets directory, and a link that stays inside it', async () => {
    expect((await readSecretRef({ file: 'paris/token.p7m' }, policy, {}, 'token')).toString()).toBe('TOKEN');
    expect((await readSecretRef({ file: 'paris/link-in.p7m' }, policy, {}, 'token')).toString()).toBe('TOKEN');
    expect((await readSecretRef({ file: join(secrets, 'paris', 'token.p7m') }, policy, {}, 'token')).toString()).toBe('TOKEN');
  });

  it('refuses absolute paths, `..` and symbolic links that leave the secrets directory, naming no content', async () => {
    for (const file of [join(outside, 'not-a-secret.txt'), '../elsewhere/not-a-secret.txt', 'paris/../../elsewhere/not-a-secret.txt']) {
      expect(secretRefProblem({ file }, policy)).toMatch(/outside the secrets directory|leaves the secrets directory/);
      await expect(readSecretRef({ file }, policy, {}, 'token')).rejects.toThrow(SecretRefError);
    }
    const link = readSecretRef({ file: 'paris/link-out.p7m' }, policy, {}, 'token');
    await expect(link).rejects.toThrow(/symbolic link that leads outside the secrets directory/);
    await expect(link).rejects.not.toThrow(/PRIVATE/);
  });

  it('reads outside the secrets directory only under a root the operator allowed', async () => {
    const allowed: TrustPolicy = { ...policy, secretRoots: [outside] };
    expect(secretRefProblem({ file: join(outside, 'not-a-secret.txt') }, allowed)).toBeUndefined();
    expect((await readSecretRef({ file: 'paris/link-out.p7m' }, allowed, {}, 'token')).toString()).toBe('PRIVATE');
    expect(secretRefProblem({ file: '/etc/passwd' }, allowed)).toBeDefined();
  });

  it('reads environment variables with the prefix or listed by the operator, never depctl settings', async () => {
    const env = { DEPCTL_PARIS_TOKEN: 'T', AWS_SECRET_ACCESS_KEY: 'K', DEPCTL_STATE: 'postgres://u:p@h/db', LEGACY_TOKEN: 'L' };
    expect((await readSecretRef({ env: 'DEPCTL_PARIS_TOKEN' }, policy, env, 'token')).toString()).toBe('T');
    await expect(readSecretRef({ env: 'AWS_SECRET_ACCESS_KEY' }, policy, env, 'token')).rejects.toThrow(/not one depctl may read: names start with DEPCTL_/);
    await expect(readSecretRef({ env: 'DEPCTL_STATE' }, policy, env, 'token')).rejects.toThrow(/is a depctl setting/);
    await expect(readSecretRef({ env: 'DEPCTL_STATE' }, { ...policy, envNames: ['DEPCTL_STATE'] }, env, 'token')).rejects.toThrow(/depctl setting/);
    expect((await readSecretRef({ env: 'LEGACY_TOKEN' }, { ...policy, envNames: ['LEGACY_TOKEN'] }, env, 'token')).toString()).toBe('L');
    expect((await readSecretRef({ env: 'LEGACY_TOKEN' }, { ...policy, envPrefix: 'LEGACY_' }, env, 'token')).toString()).toBe('L');
    await expect(readSecretRef({ env: 'DEPCTL_UNSET' }, policy, env, 'token')).rejects.toThrow(/DEPCTL_UNSET is not set/);
  });
});

describe('depUrl hosts', () => {
  it("allows Apple's host over https on the default port, and hosts the operator listed", () => {
    expect(depUrlProblem('https://mdmenrollment.apple.com', policy)).toBeUndefined();
    expect(depUrlProblem('https://MDMENROLLMENT.apple.com/', policy)).toBeUndefined();
    expect(depUrlProblem('http://mdmenrollment.apple.com', policy)).toMatch(/not Apple's/);
    expect(depUrlProblem('https://mdmenrollment.apple.com:8443', policy)).toMatch(/not Apple's/);
    expect(depUrlProblem('https://mdmenrollment.apple.com.evil.example', policy)).toMatch(/not Apple's/);
    expect(depUrlProblem('http://127.0.0.1:9001', policy)).toMatch(/--allow-dep-host/);
    expect(depUrlProblem('http://169.254.169.254/latest/meta-data', policy)).toMatch(/not Apple's/);
    const lab = { ...policy, depHosts: ['127.0.0.1:9001', 'dep-proxy.corp.example'] };
    expect(depUrlProblem('http://127.0.0.1:9001', lab)).toBeUndefined();
    expect(depUrlProblem('http://127.0.0.1:9002', lab)).toMatch(/127\.0\.0\.1:9002 is not Apple's/);
    expect(depUrlProblem('https://dep-proxy.corp.example:443', lab)).toBeUndefined();
    expect(depUrlProblem('https://user:pass@dep-proxy.corp.example', lab)).toMatch(/user name or password/);
    expect(depUrlProblem('not a url', lab)).toMatch(/not a URL/);
  });

  it('validation reports a depUrl host outside the policy, and keeps the plain-http warning for allowed ones', async () => {
    const yaml = (url: string): string => `apiVersion: depctl/v1\nkind: MdmServer\nmetadata: { name: lab }\nspec:\n  token: { file: lab/token.p7m }\n  privateKey: { file: lab/key.pem }\n  depUrl: ${url}\n`;
    const { dir, cleanup } = await makeConfigDir({ 'server.yaml': yaml('http://dep-proxy.corp.example') });
    try {
      const refused = await loadConfig(dir, { secretsDir: secrets });
      expect(refused.problems).toEqual([expect.objectContaining({ code: 'dep-url-host', line: 7, column: 11 })]);
      const allowed = await loadConfig(dir, { secretsDir: secrets, trust: { ...defaultTrustPolicy(secrets), depHosts: ['dep-proxy.corp.example'] } });
      expect(allowed.problems).toEqual([expect.objectContaining({ code: 'insecure-dep-url', severity: 'warning' })]);
    } finally {
      await cleanup();
    }
  });
});
