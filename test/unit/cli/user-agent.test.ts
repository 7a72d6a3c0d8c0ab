import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeWorkspace, type Workspace } from '../../helpers/workspace.js';
import { runDepctl } from '../../helpers/cli.js';
import { TEST_TOKEN, startFakeDep, type FakeDep } from '../dep/fake-dep-server.js';

const base = readFileSync(new URL('../../fixtures/bad-configs/_base/base.yaml', import.meta.url), 'utf8');

describe('--user-agent and DEPCTL_USER_AGENT', () => {
  let fake: FakeDep;
  let ws: Workspace;
  beforeEach(async () => {
    fake = await startFakeDep();
    ws = await makeWorkspace(fake.url);
    await ws.commit({ 'base.yaml': base });
    await ws.addServerSecrets('paris', TEST_TOKEN);
  });
  afterEach(async () => {
    try {
      fake.assertDone();
    } finally {
      await fake.close();
      await ws.cleanup();
    }
  });

  const plan = (args: string[], env: Record<string, string> = {}) =>
    runDepctl(['plan', 'config', '--format', 'json', ...args], { cwd: ws.root, env: { ...ws.env, ...env } });

  it('reaches the DEP client: the flag wins over the variable, and a refused value stops the server naming both', async () => {
    fake.expect('GET', '/session', { status: 400, body: 'USER_AGENT_INVALID' });
    const r = await plan(['--user-agent', 'acme-mdm/2.1'], { DEPCTL_USER_AGENT: 'from-env/1' });
    expect(fake.requests.map((q) => q.headers['user-agent'])).toEqual(['acme-mdm/2.1']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { servers: { server: string; problem: { kind: string; reason: string; message: string } }[] };
    const problem = out.servers[0]?.problem;
    expect(problem).toMatchObject({ kind: 'terminal', reason: 'user-agent-rejected' });
    expect(problem?.message).toContain('Apple refused the User-Agent "acme-mdm/2.1"');
    expect(problem?.message).toContain('--user-agent option or the DEPCTL_USER_AGENT environment variable');
  });

  it('DEPCTL_USER_AGENT alone is used', async () => {
    fake.expect('GET', '/session', { status: 400, body: 'USER_AGENT_MISSING' });
    await plan([], { DEPCTL_USER_AGENT: 'from-env/1' });
    expect(fake.requests.map((q) => q.headers['user-agent'])).toEqual(['from-env/1']);
  });

  it('defaults to depctl/<version>', async () => {
    fake.expect('GET', '/session', { status: 400, body: 'USER_AGENT_INVALID' });
    await plan([]);
    expect(fake.requests.map((q) => q.headers['user-agent'])).toEqual(['depctl/0.1.0']);
  });

  it('an empty or non-printable value is a usage error, before any call', async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [['--user-agent', ''], {}, 'depctl: --user-agent must not be empty\n'],
      [['--user-agent', '  '], {}, 'depctl: --user-agent must not be empty\n'],
      [[], { DEPCTL_USER_AGENT: '' }, 'depctl: DEPCTL_USER_AGENT must not be empty\n'],
      [[], { DEPCTL_USER_AGENT: 'depctl/1\r\nX-Evil: 1' }, 'depctl: DEPCTL_USER_AGENT must be printable ASCII (no control characters, tabs, line breaks or non-ASCII letters)\n'],
      [['--user-agent', 'dépctl/1'], { DEPCTL_USER_AGENT: 'fine/1' }, 'depctl: --user-agent must be printable ASCII (no control characters, tabs, line breaks or non-ASCII letters)\n'],
    ];
    for (const [args, env, stderr] of cases) {
      const r = await plan(args, env);
      expect([r.code, r.stderr], JSON.stringify([args, env])).toEqual([2, stderr]);
    }
    expect(fake.requests).toEqual([]);
  });
});
