import { describe, expect, it } from 'vitest';
import { credentialChange, trustedServersFor } from '../../../controller/reconcile/remote-plan.js';
import { remoteRefFor } from '../../../controller/source/ref-fetch.js';
import type { DepConfig, MdmServer } from '../../../controller/config/types.js';

const loc = { file: 'servers.yaml', line: 1, column: 1 };
function server(name: string, extra: Partial<MdmServer> = {}): MdmServer {
  return { name, token: { file: `${name}/token.p7m` }, privateKey: { file: `${name}/key.pem` }, unassignedDevices: 'ignore', driftPolicy: 'correct', source: loc, ...extra } as MdmServer;
}
function config(servers: MdmServer[]): DepConfig {
  return { servers, profiles: [], assignments: [] } as unknown as DepConfig;
}

describe('remote plans: which servers of an unmerged revision may be planned with credentials', () => {
  it('only servers whose token, privateKey and depUrl equal the trusted revision, with the trusted definitions', () => {
    const trusted = config([server('paris', { depUrl: 'https://mdmenrollment.apple.com', maxChanges: 10 }), server('lyon')]);
    const candidate = config([
      server('paris', { depUrl: 'https://mdmenrollment.apple.com', maxChanges: 500, defaultProfile: 'x' }),
      server('lyon', { token: { env: 'DEPCTL_LYON_TOKEN' } }),
      server('nice'),
    ]);
    expect(trustedServersFor(trusted, candidate)).toEqual([trusted.servers[0]]);
    expect(credentialChange(trusted.servers[1], candidate.servers[1] as MdmServer)).toMatch(/planned after merge only \(token differ/);
    expect(credentialChange(undefined, server('nice'))).toMatch(/^new server/);
    expect(credentialChange(server('a'), server('a', { depUrl: 'http://127.0.0.1:1' }))).toMatch(/\(depUrl differ/);
    expect(credentialChange(server('a'), server('a', { privateKey: { file: '../../etc/key.pem' } }))).toMatch(/\(privateKey differ/);
    expect(credentialChange(server('a'), server('a', { maxChanges: 3 }))).toBeNull();
  });

  it('accepts branches and pull/merge request heads of the repository, and nothing else', () => {
    expect(remoteRefFor('feature/x')).toEqual({ ok: true, remote: 'refs/heads/feature/x' });
    expect(remoteRefFor('refs/heads/main')).toEqual({ ok: true, remote: 'refs/heads/main' });
    expect(remoteRefFor('refs/pull/12/head')).toEqual({ ok: true, remote: 'refs/pull/12/head' });
    expect(remoteRefFor('refs/merge-requests/3/head')).toEqual({ ok: true, remote: 'refs/merge-requests/3/head' });
    expect(remoteRefFor('0a'.repeat(20))).toEqual({ ok: true, remote: '0a'.repeat(20) });
    for (const bad of ['refs/tags/v1', 'refs/pull/x/head', 'refs/remotes/origin/main', '--upload-pack=evil', 'https://evil.example/r.git', '../x', 'a b', 'refs/heads/']) {
      expect(remoteRefFor(bad).ok, bad).toBe(false);
    }
  });
});
