import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createAbmClient, type AbmClient } from '../../../controller/abm/client.js';
import { AbmProtocolError, AbmTimeoutError } from '../../../controller/abm/errors.js';
import { MAX_RESULT_CSV_BYTES } from '../../../controller/abm/results.js';
import { generateApiAccount } from '../../../controller/sim/abm/credentials.js';
import { startFakeAbm, tokenReply, type FakeAbm } from './fake-abm-server.js';

const account = generateApiAccount('business');
let fake: FakeAbm;
let agent: Agent;
let client: AbmClient;

beforeEach(async () => {
  fake = await startFakeAbm();
  agent = new Agent();
  client = createAbmClient({
    credentials: { ...account, apiUrl: `${fake.url}/v1`, tokenUrl: `${fake.url}/auth/oauth2/token` },
    dispatcher: agent,
    retry: { maxAttempts: 1 },
    timeoutMs: 10_000,
  });
  fake.expect('POST', '/auth/oauth2/token', tokenReply('AT-1'));
});

afterEach(async () => {
  await agent.close();
  await fake.close();
});

const page = (ids: string[], nextCursor?: string): { status: number; body: unknown } => ({
  status: 200,
  body: { data: ids.map((id) => ({ type: 'orgDevices', id, attributes: { serialNumber: id } })), meta: { paging: { total: 9, limit: 2, ...(nextCursor ? { nextCursor } : {}) } } },
});

describe('paging', () => {
  it('follows nextCursor with the same limit and fields, and stops when a cursor comes back again', async () => {
    fake.expect('GET', '/v1/orgDevices', page(['A', 'B'], 'c1')).expect('GET', '/v1/orgDevices', page(['C'], 'c1'));
    const seen: string[] = [];
    const err = await (async () => {
      for await (const d of client.listOrgDevices({ limit: 2, fields: ['serialNumber', 'status'] })) seen.push(d.serialNumber);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['A', 'B', 'C']);
    expect(err).toBeInstanceOf(AbmProtocolError);
    expect((err as Error).message).toMatch(/did not advance/);
    const [, first, second] = fake.requests;
    expect(Object.fromEntries(first?.query ?? [])).toEqual({ limit: '2', 'fields[orgDevices]': 'serialNumber,status' });
    expect(Object.fromEntries(second?.query ?? [])).toEqual({ limit: '2', 'fields[orgDevices]': 'serialNumber,status', cursor: 'c1' });
  });
});

describe('activities', () => {
  it('sends the JSON:API request body Apple documents, split into activities of 1000', async () => {
    const serials = Array.from({ length: 1001 }, (_, i) => `S${String(i).padStart(5, '0')}`);
    const created = (id: string) => ({ status: 201, body: { data: { type: 'orgDeviceActivities', id, attributes: { status: 'IN_PROGRESS', subStatus: 'SUBMITTED' } } } });
    fake.expect('POST', '/v1/orgDeviceActivities', created('A1')).expect('POST', '/v1/orgDeviceActivities', created('A2'));
    const acts = await client.createActivities({ type: 'UNASSIGN_DEVICES', serverId: 'SRV', serials });
    expect(acts.map((a) => a.id)).toEqual(['A1', 'A2']);
    const bodies = fake.requests.filter((r) => r.path === '/v1/orgDeviceActivities').map((r) => JSON.parse(r.body) as { data: { type: string; attributes: unknown; relationships: { mdmServer: unknown; devices: { data: { type: string; id: string }[] } } } });
    expect(bodies[0]?.data).toMatchObject({ type: 'orgDeviceActivities', attributes: { activityType: 'UNASSIGN_DEVICES' }, relationships: { mdmServer: { data: { type: 'mdmServers', id: 'SRV' } } } });
    expect(bodies.map((b) => b.data.relationships.devices.data.length)).toEqual([1000, 1]);
    expect(bodies[1]?.data.relationships.devices.data[0]).toEqual({ type: 'orgDevices', id: 'S01000' });
    expect(fake.requests.find((r) => r.path === '/v1/orgDeviceActivities')?.headers['content-type']).toBe('application/json');
    await expect(client.createActivities({ type: 'ASSIGN_DEVICES', serverId: 'SRV', serials: ['X', 'X'] })).rejects.toThrow(/twice/);
    fake.assertDone();
  });

  it('downloads the result file without the bearer token and refuses one over the size bound', async () => {
    fake.expect('GET', '/blob/r.csv', { status: 200, body: 'Serial Number,Status\nA,SUCCESS\n', headers: { 'Content-Type': 'text/csv' } });
    const activity = { id: 'A1', status: 'COMPLETED' as const, subStatus: 'COMPLETED_WITH_SUCCESS', downloadUrl: `${fake.url}/blob/r.csv?X-Amz-Signature=secret-sig`, attributes: {} };
    await expect(client.readActivityResults(activity)).resolves.toEqual([{ serial: 'A', status: 'SUCCESS' }]);
    const download = fake.requests.find((r) => r.path === '/blob/r.csv');
    expect(download?.headers.authorization).toBeUndefined();

    fake.expect('GET', '/blob/r.csv', { status: 200, body: 'x'.repeat(MAX_RESULT_CSV_BYTES + 1) });
    const err = await client.readActivityResults(activity).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbmProtocolError);
    expect((err as Error).message).not.toContain('secret-sig');
    fake.expect('GET', '/blob/r.csv', { status: 403, body: '<Error>AccessDenied for X-Amz-Signature=secret-sig</Error>' });
    const denied = await client.readActivityResults(activity).catch((e: unknown) => e);
    expect(denied).toMatchObject({ status: 403 });
    expect(`${(denied as Error).message} ${(denied as { body: string }).body}`).not.toContain('secret-sig');
    await expect(client.readActivityResults({ ...activity, downloadUrl: undefined })).rejects.toThrow(/no result file/);
  });
});

describe('timeouts and aborts', () => {
  it('turns a response that never comes into AbmTimeoutError, and a caller abort into the caller’s reason', async () => {
    client = createAbmClient({
      credentials: { ...account, apiUrl: `${fake.url}/v1`, tokenUrl: `${fake.url}/auth/oauth2/token` },
      dispatcher: agent,
      retry: { maxAttempts: 1 },
      timeoutMs: 200,
    });
    const never = new Promise<void>(() => undefined);
    fake.expect('GET', '/v1/mdmServers', { status: 200, body: { data: [] }, gate: never });
    const err = await client.listMdmServers().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbmTimeoutError);
    expect(err).toMatchObject({ transient: true, timeoutMs: 200 });

    fake.expect('GET', '/v1/mdmServers', { status: 200, body: { data: [] }, gate: never });
    const ac = new AbortController();
    const pending = client.listMdmServers({ signal: ac.signal });
    ac.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
  });
});
