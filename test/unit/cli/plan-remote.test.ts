import { describe, expect, it } from 'vitest';
import { planEndpoint, remotePlanHasErrors } from '../../../controller/cli/plan-remote.js';
import { createRemotePlanner } from '../../../controller/cli/remote-plan-service.js';
import { RemotePlanError } from '../../../controller/server/plan-api.js';
import { MemoryStore } from '../../../controller/store/index.js';
import { UsageError } from '../../../controller/cli/io.js';
import { buildPlan, serverPlan } from '../../helpers/plans.js';

describe('depctl plan --remote: the endpoint, the exit code, and a controller without a trusted revision', () => {
  it('builds the plan endpoint from a controller URL and refuses URLs with credentials or other schemes', () => {
    expect(planEndpoint('http://127.0.0.1:8080').href).toBe('http://127.0.0.1:8080/api/plan');
    expect(planEndpoint('https://depctl.example.com/prefix/?x=1#y').href).toBe('https://depctl.example.com/prefix/api/plan');
    expect(planEndpoint('https://depctl.example.com/api/plan').href).toBe('https://depctl.example.com/api/plan');
    expect(() => planEndpoint('https://user:secret@depctl.example.com')).toThrow(UsageError);
    expect(() => planEndpoint('ftp://depctl.example.com')).toThrow(/only http and https/);
    expect(() => planEndpoint('not a url')).toThrow(/not a URL/);
  });

  it('a server planned after merge only does not fail the plan; other server errors and conflicts do', () => {
    const guarded = serverPlan({ server: 'lyon', error: 'credential or endpoint change: planned after merge only', problem: { server: 'lyon', kind: 'guardrail', reason: 'untrusted-credential-change', message: 'credential or endpoint change: planned after merge only', retryAt: null } });
    expect(remotePlanHasErrors(buildPlan([serverPlan({ server: 'paris' }), guarded]))).toBe(false);
    const failed = serverPlan({ server: 'nice', error: 'Apple refused', problem: { server: 'nice', kind: 'terminal', reason: 'token-rejected', message: 'Apple refused', retryAt: null } });
    expect(remotePlanHasErrors(buildPlan([guarded, failed]))).toBe(true);
  });

  it('answers 503 before fetching anything while the controller has no trusted revision (starting, follower)', async () => {
    const planner = createRemotePlanner({
      repo: { url: '/nonexistent/repository.git', path: '.', auth: {}, env: {} },
      scratchDir: '/nonexistent/scratch',
      trusted: () => undefined,
      store: new MemoryStore(),
      settings: { stateUrl: 'sqlite::memory:', secretsDir: '/nonexistent/secrets', depUrlOverride: undefined },
      io: { stdout: () => {}, stderr: () => {}, env: {}, cwd: '/' },
      now: () => new Date(),
    });
    const err = await planner('main', undefined, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemotePlanError);
    expect((err as RemotePlanError).status).toBe(503);
  });
});
