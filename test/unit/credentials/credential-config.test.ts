import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';

const server = `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
`;

describe('kind: Credential in a configuration', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'depctl-credcfg-'));
    await mkdir(join(dir, 'config'));
    await mkdir(join(dir, 'secrets'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function load(yaml: string) {
    await writeFile(join(dir, 'config', 'servers.yaml'), server);
    await writeFile(join(dir, 'config', 'credentials.yaml'), yaml);
    return loadConfig(join(dir, 'config'), { secretsDir: join(dir, 'secrets') });
  }

  it('loads an APNs certificate (PKCS#12 with a password from the environment) and an Apps and Books token', async () => {
    const r = await load(`apiVersion: depctl/v1
kind: Credential
metadata: { name: push }
spec:
  type: apns
  certificate: { file: apns/push.p12 }
  password: { env: DEPCTL_APNS_PASSWORD }
---
apiVersion: depctl/v1
kind: Credential
metadata: { name: paris-location }
spec:
  type: vpp
  token: { file: vpp/paris.vpptoken }
`);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.config?.credentials?.map((c) => ({ name: c.name, type: c.type }))).toEqual([
      { name: 'push', type: 'apns' },
      { name: 'paris-location', type: 'vpp' },
    ]);
    expect(r.config?.credentials?.[0]).toMatchObject({ certificate: { file: 'apns/push.p12' }, password: { env: 'DEPCTL_APNS_PASSWORD' } });
    expect(r.stats.documents.Credential).toBe(2);
  });

  it('says what a type needs and what does not apply, and refuses an unknown type and inline secrets', async () => {
    const r = await load(`apiVersion: depctl/v1
kind: Credential
metadata: { name: push }
spec:
  type: apns
  token: { file: vpp/x.vpptoken }
---
apiVersion: depctl/v1
kind: Credential
metadata: { name: loc }
spec:
  type: vpp
  token: { file: vpp/loc.vpptoken }
  certificate: { file: apns/push.pem }
---
apiVersion: depctl/v1
kind: Credential
metadata: { name: odd }
spec:
  type: scep
  token: "inline-secret"
`);
    expect(r.config).toBeUndefined();
    const messages = r.problems.filter((p) => p.severity === 'error').map((p) => `${p.code}: ${p.message}`);
    expect(messages).toContain('missing-key: a Credential of type apns needs spec.certificate');
    expect(messages).toContain('unknown-key: spec.token does not apply to a Credential of type apns (it takes certificate, password)');
    expect(messages).toContain('unknown-key: spec.certificate does not apply to a Credential of type vpp (it takes token)');
    expect(r.problems.some((p) => p.severity === 'error' && p.code === 'schema' && p.line >= 19)).toBe(true);
    expect(JSON.stringify(r.problems)).not.toContain('inline-secret');
  });
});
