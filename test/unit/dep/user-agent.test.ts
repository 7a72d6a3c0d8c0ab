import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, type Dispatcher } from 'undici';
import { createDepClient } from '../../../controller/dep/client.js';
import { DepUserAgentError, isTerminalAuthError, isTransientDepError, isUserAgentRejected } from '../../../controller/dep/errors.js';
import { problemFromError } from '../../../controller/reconcile/outcome.js';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { TEST_TOKEN, finishFakeDep, startFakeDep, type FakeDep } from './fake-dep-server.js';

const ACCOUNT = { server_name: 'S', server_uuid: 'U', admin_id: 'a', org_name: 'O', org_email: 'e', org_phone: 'p', org_address: 'x' };

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

describe('User-Agent against a strict fake', () => {
  let fake: FakeDep;
  let agent: Agent;
  beforeEach(async () => {
    fake = await startFakeDep();
    agent = new Agent();
  });
  afterEach(() => finishFakeDep(fake, agent));

  it('sends the configured value on /session and on every call', async () => {
    fake.expectSession('S1').expect('GET', '/account', { status: 200, body: ACCOUNT });
    const client = createDepClient({ baseUrl: fake.url, token: TEST_TOKEN, dispatcher: agent, userAgent: 'acme-mdm/2.1 (+https://acme.example)' });
    await client.account();
    expect(fake.requests.map((r) => r.headers['user-agent'])).toEqual(['acme-mdm/2.1 (+https://acme.example)', 'acme-mdm/2.1 (+https://acme.example)']);
  });

  it('400 USER_AGENT_INVALID from /session is terminal, not retried, and names the option and the variable', async () => {
    fake.expect('GET', '/session', { status: 400, body: 'USER_AGENT_INVALID' });
    const client = createDepClient({ baseUrl: fake.url, token: TEST_TOKEN, dispatcher: agent, userAgent: 'nanodep-g-o-dep/0', retry: { maxAttempts: 3 } });
    const err = await failure(client.account());
    expect(err).toBeInstanceOf(DepUserAgentError);
    expect(isUserAgentRejected(err)).toBe(true);
    expect(isTransientDepError(err)).toBe(false);
    expect(isTerminalAuthError(err)).toBe(false);
    expect(err).toMatchObject({ status: 400, code: 'USER_AGENT_INVALID', endpoint: '/session', userAgent: 'nanodep-g-o-dep/0' });
    expect((err as Error).message).toBe(
      'DEP GET /session (HTTP 400): USER_AGENT_INVALID — Apple refused the User-Agent "nanodep-g-o-dep/0". Send another with the --user-agent option or the ' +
        'DEPCTL_USER_AGENT environment variable (Apple does not publish its rules; a product name and version such as "acme-mdm/2.1" is the common form); ' +
        'depctl will not retry this server until then.',
    );
    expect(fake.requests).toHaveLength(1);
    expect(problemFromError('paris', err, new Date())).toEqual({ server: 'paris', kind: 'terminal', reason: 'user-agent-rejected', message: (err as Error).message, retryAt: null });
  });

  it('400 USER_AGENT_MISSING on a call (quoted, as depsim sends codes) is the same terminal error', async () => {
    fake.expectSession('S1').expect('POST', '/server/devices', { status: 400, body: 'USER_AGENT_MISSING' });
    const client = createDepClient({ baseUrl: fake.url, token: TEST_TOKEN, dispatcher: agent, retry: { maxAttempts: 3 } });
    const err = await failure(client.fetchDevices());
    expect(err).toMatchObject({ name: 'DepUserAgentError', status: 400, code: 'USER_AGENT_MISSING', endpoint: '/server/devices', userAgent: 'depctl/0.1.0' });
    expect(problemFromError('paris', err, new Date()).reason).toBe('user-agent-rejected');
  });

  it('another 400 stays an ordinary Apple error', async () => {
    fake.expectSession('S1').expect('POST', '/server/devices', { status: 400, body: 'INVALID_CURSOR' });
    const client = createDepClient({ baseUrl: fake.url, token: TEST_TOKEN, dispatcher: agent });
    const err = await failure(client.fetchDevices({ cursor: 'x' }));
    expect(isUserAgentRejected(err)).toBe(false);
    expect(problemFromError('paris', err, new Date()).reason).toBe('apple-error');
  });
});

describe('User-Agent values', () => {
  it('refuses what cannot be sent: empty, blank, control characters, non-ASCII', () => {
    for (const ua of ['', '   ', 'depctl/1\r\nX-Evil: 1', 'depctl\t1', 'dépctl/1', 'depctl/1\u0000']) {
      expect(() => createDepClient({ baseUrl: 'http://127.0.0.1:1', token: TEST_TOKEN, userAgent: ua }), JSON.stringify(ua)).toThrow(TypeError);
    }
    expect(() => createDepClient({ baseUrl: 'http://127.0.0.1:1', token: TEST_TOKEN, userAgent: 'fleetdm/nanodep' })).not.toThrow();
  });
});

/** A dispatcher that drops the User-Agent header on its way out, as a misbehaving proxy might. */
function withoutUserAgent(agent: Agent): Dispatcher {
  return agent.compose((dispatch) => (opts, handler) => {
    const headers = Object.fromEntries(Object.entries((opts.headers ?? {}) as Record<string, string>).filter(([k]) => k.toLowerCase() !== 'user-agent'));
    return dispatch({ ...opts, headers }, handler);
  });
}

describe('User-Agent against the simulator (real client, real HTTP)', () => {
  let sim: RunningSimulator;
  let agent: Agent;
  beforeEach(async () => {
    sim = await startSimulator({ devices: 3, seed: 7 });
    agent = new Agent();
  });
  afterEach(async () => {
    await agent.close();
    await sim.close();
  });

  it('serves a configured User-Agent', async () => {
    const client = createDepClient({ baseUrl: sim.url, token: sim.token, dispatcher: agent, userAgent: 'acme-mdm/2.1' });
    const page = await client.fetchDevices();
    expect(page.devices).toHaveLength(3);
  });

  it('answers a request without User-Agent with 400 USER_AGENT_MISSING, which stops the server', async () => {
    const client = createDepClient({ baseUrl: sim.url, token: sim.token, dispatcher: withoutUserAgent(agent), retry: { maxAttempts: 3 } });
    const err = await failure(client.account());
    expect(err).toMatchObject({ name: 'DepUserAgentError', status: 400, code: 'USER_AGENT_MISSING', endpoint: '/session' });
    expect((err as Error).message).toContain('--user-agent');
    expect((err as Error).message).toContain('DEPCTL_USER_AGENT');
    expect(problemFromError('paris', err, new Date())).toMatchObject({ kind: 'terminal', reason: 'user-agent-rejected' });
  });
});
