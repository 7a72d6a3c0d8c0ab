/**
 * Contract test: the real Apple Business API client (controller/abm) against the simulator
 * (controller/sim/abm) over HTTP on 127.0.0.1 port 0. The simulator's clock is moved forward by the
 * client's injected waits, so activities progress without real waiting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { createAbmClient, type AbmClient, type AbmClientOptions } from '../../controller/abm/client.js';
import { AbmHttpError, AbmProtocolError, AbmTokenError } from '../../controller/abm/errors.js';
import { ABM_MAX_ACTIVITY_DEVICES, type OrgDeviceActivity } from '../../controller/abm/types.js';
import { createDepClient } from '../../controller/dep/client.js';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import { connectAbmToDep, generateApiAccount, startAbmSimulator, type RunningAbmSimulator } from '../../controller/sim/abm/index.js';

const CERT = { name: 'mdm.example.com.pem', data: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64') };

let sim: RunningAbmSimulator;
let agent: Agent;
let client: AbmClient;
let sleeps: number[];
let moves: [string, string | null, string | null][];

function makeClient(extra: Partial<AbmClientOptions> = {}): AbmClient {
  return createAbmClient({
    credentials: { ...sim.account, apiUrl: sim.apiUrl, tokenUrl: sim.tokenUrl },
    dispatcher: agent,
    retry: {
      maxAttempts: 4,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
    ...extra,
  });
}

/** Polls an activity to its end, each wait moving the simulator's clock instead of really waiting. */
async function waitOnSimClock(c: AbmClient, id: string): Promise<{ final: OrgDeviceActivity }> {
  const final = await c.waitForActivity(id, {
    intervalMs: 1000,
    sleep: async (ms) => {
      sim.advanceClock(ms);
    },
  });
  return { final };
}

beforeEach(async () => {
  moves = [];
  sleeps = [];
  sim = await startAbmSimulator({
    devices: 2500,
    seed: 7,
    servers: [{ serverName: 'Jamf Pro' }, { serverName: 'Intune' }],
    activityStepMs: 1000,
    onMove: (serial, from, to) => moves.push([serial, from, to]),
  });
  agent = new Agent();
  client = makeClient();
});

afterEach(async () => {
  await client.close();
  await agent.close();
  await sim.close();
});

async function allSerials(c: AbmClient): Promise<string[]> {
  const out: string[] = [];
  for await (const d of c.listOrgDevices({ limit: 1000 })) out.push(d.serialNumber);
  return out;
}

describe('devices and servers', () => {
  it('pages through 2,500 devices by cursor, 1,000 at a time, each exactly once', async () => {
    const serials = await allSerials(client);
    expect(serials).toHaveLength(2500);
    expect(new Set(serials).size).toBe(2500);
    expect(serials.every((s) => sim.inspect.device(s) !== undefined)).toBe(true);
    expect(sim.inspect.requestCounts()['GET /v1/orgDevices']).toBe(3);
    // Apple's default page is 100; fields[orgDevices] narrows the attributes.
    const first = await client.orgDevicePage({ fields: ['serialNumber', 'productFamily'] });
    expect(first.items).toHaveLength(100);
    expect(first.total).toBe(2500);
    expect(Object.keys(first.items[0]?.attributes ?? {}).sort()).toEqual(['productFamily', 'serialNumber']);
    await expect(client.orgDevicePage({ fields: ['nope'] })).rejects.toMatchObject({ status: 400, code: 'PARAMETER_ERROR.INVALID' });
    await expect(client.orgDevicePage({ cursor: 'Zm9yZ2Vk' })).rejects.toBeInstanceOf(AbmHttpError);
    await expect(client.orgDevicePage({ limit: 1001 })).rejects.toThrow(RangeError);
  });

  it('reads one device with its radios as lists, and its assigned server', async () => {
    const serial = (await allSerials(client))[0] as string;
    const d = await client.getOrgDevice(serial);
    expect(d.serialNumber).toBe(serial);
    expect(Array.isArray(d.imei)).toBe(true);
    expect(d.status).toBe('UNASSIGNED');
    await expect(client.getAssignedServer(serial)).resolves.toBeNull();
    await expect(client.getOrgDevice('NOSUCHSERIAL')).rejects.toMatchObject({ status: 404 });
  });

  it('creates (201), renames, lists and deletes an MDM server; a server with devices cannot be deleted', async () => {
    const created = await client.createMdmServer({ serverName: 'Kandji', serverCertificate: CERT, enableMdmDisownFlag: true });
    expect(created).toMatchObject({ serverName: 'Kandji', serverType: 'MDM', enableMdmDisownFlag: true, deviceCount: 0 });
    const renamed = await client.updateMdmServer(created.id, { serverName: 'Kandji EU' });
    expect(renamed.serverName).toBe('Kandji EU');
    expect((await client.listMdmServers()).map((s) => s.serverName)).toEqual(['Jamf Pro', 'Intune', 'Kandji EU']);
    await expect(client.createMdmServer({ serverName: 'Kandji EU', serverCertificate: CERT })).rejects.toMatchObject({ status: 409 });

    const [serial] = await allSerials(client);
    const act = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: created.id, serials: [serial as string] });
    await waitOnSimClock(client, act.id);
    await expect(client.deleteMdmServer(created.id)).rejects.toMatchObject({ status: 409 });
    const un = await client.createActivity({ type: 'UNASSIGN_DEVICES', serverId: created.id, serials: [serial as string] });
    expect((await waitOnSimClock(client, un.id)).final.subStatus).toBe('COMPLETED_WITH_SUCCESS');
    await client.deleteMdmServer(created.id);
    expect((await client.listMdmServers()).map((s) => s.id)).not.toContain(created.id);
    expect(moves).toEqual([
      [serial, null, created.id],
      [serial, created.id, null],
    ]);
  });
});

describe('activities', () => {
  it('assigns 1,500 devices in activities of at most the limit, polls them through the sub-statuses and reads every result', async () => {
    const [jamf] = await client.listMdmServers();
    const serials = (await allSerials(client)).slice(0, 1500);
    await expect(client.createActivity({ type: 'ASSIGN_DEVICES', serverId: jamf?.id ?? '', serials })).rejects.toThrow(RangeError);
    expect(sim.inspect.requestCounts()['POST /v1/orgDeviceActivities']).toBeUndefined();

    const acts = await client.createActivities({ type: 'ASSIGN_DEVICES', serverId: jamf?.id ?? '', serials });
    expect(acts).toHaveLength(Math.ceil(1500 / ABM_MAX_ACTIVITY_DEVICES));
    expect(acts.map((a) => [a.status, a.subStatus])).toEqual(acts.map(() => ['IN_PROGRESS', 'SUBMITTED']));

    // Watch the first one step by step on the simulator clock.
    const seen: string[] = [];
    for (;;) {
      const a = await client.getActivity(acts[0]?.id ?? '');
      if (seen[seen.length - 1] !== a.subStatus) seen.push(a.subStatus);
      if (a.status !== 'IN_PROGRESS') break;
      sim.advanceClock(1000);
    }
    expect(seen).toEqual(['SUBMITTED', 'PRE_PROCESSING', 'PENDING', 'PROCESSING', 'POST_PROCESSING', 'COMPLETED_WITH_SUCCESS']);

    const results = [];
    for (const a of acts) {
      const { final } = await waitOnSimClock(client, a.id);
      expect(final).toMatchObject({ status: 'COMPLETED', subStatus: 'COMPLETED_WITH_SUCCESS' });
      expect(final.completedDateTime).toBeDefined();
      results.push(...(await client.readActivityResults(final)));
    }
    expect(results).toHaveLength(1500);
    expect(new Set(results.map((r) => r.serial))).toEqual(new Set(serials));
    expect(results.every((r) => r.status === 'SUCCESS')).toBe(true);

    const onServer: string[] = [];
    for await (const s of client.listServerDeviceSerials(jamf?.id ?? '', { limit: 1000 })) onServer.push(s);
    expect(onServer.sort()).toEqual([...serials].sort());
    await expect(client.getAssignedServer(serials[1499] as string)).resolves.toBe(jamf?.id);
    expect((await client.getOrgDevice(serials[0] as string)).status).toBe('ASSIGNED');
    expect(moves).toHaveLength(1500);
    expect(moves.every(([, from, to]) => from === null && to === jamf?.id)).toBe(true);
    // The presigned download went out without the bearer token.
    expect(sim.inspect.requestCounts()['GET /_blob/activities/{id}.csv']).toBe(2);
  });

  it('reports a failed and a stopped activity as such, with no result file and no device moved', async () => {
    const [jamf] = await client.listMdmServers();
    const serials = (await allSerials(client)).slice(0, 10);
    sim.injectFaults({ failActivities: 1, stopActivities: 1 });
    const failed = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: jamf?.id ?? '', serials });
    const stopped = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: jamf?.id ?? '', serials });
    const f = (await waitOnSimClock(client, failed.id)).final;
    const s = (await waitOnSimClock(client, stopped.id)).final;
    expect([f.status, f.subStatus]).toEqual(['FAILED', 'COMPLETED_WITH_FAILURE']);
    expect(s.status).toBe('STOPPED');
    // Apple: completedDateTime and downloadUrl only on COMPLETED.
    expect([f.completedDateTime, f.downloadUrl, s.completedDateTime, s.downloadUrl]).toEqual([undefined, undefined, undefined, undefined]);
    await expect(client.readActivityResults(f)).rejects.toBeInstanceOf(AbmProtocolError);
    expect(moves).toEqual([]);
    expect(sim.inspect.serialsOf(jamf?.id ?? '')).toEqual([]);
  });

  it('reports per-serial failures inside a completed activity (COMPLETED_WITH_ERROR)', async () => {
    const [jamf] = await client.listMdmServers();
    const serials = (await allSerials(client)).slice(0, 5);
    sim.injectFaults({ failedSerials: [serials[2] as string] });
    const a = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: jamf?.id ?? '', serials });
    const { final } = await waitOnSimClock(client, a.id);
    expect([final.status, final.subStatus]).toEqual(['COMPLETED', 'COMPLETED_WITH_ERROR']);
    const results = await client.readActivityResults(final);
    expect(results.filter((r) => r.status === 'FAILED')).toEqual([{ serial: serials[2], status: 'FAILED', message: 'Simulated failure for this device' }]);
    expect(sim.inspect.serialsOf(jamf?.id ?? '')).toHaveLength(4);
  });

  it('answers 409 for an unknown server id and for a serial not in the organisation', async () => {
    const serials = (await allSerials(client)).slice(0, 2);
    const [jamf] = await client.listMdmServers();
    const e1 = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: 'NO-SUCH-SERVER', serials }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(AbmHttpError);
    expect(e1).toMatchObject({ status: 409, transient: false });
    expect((e1 as AbmHttpError).errors[0]?.source?.pointer).toBe('/data/relationships/mdmServer');
    const e2 = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: jamf?.id ?? '', serials: [serials[0] as string, 'NOTINORG123'] }).catch((e: unknown) => e);
    expect(e2).toMatchObject({ status: 409 });
    expect((e2 as AbmHttpError).errors[0]?.source?.pointer).toBe('/data/relationships/devices/data/1');
    expect((e2 as AbmHttpError).message).toContain('NOTINORG123');
  });
});

describe('throttling, auth and faults', () => {
  it('waits out 429s with their Retry-After, then gives up with a transient typed error when they persist', async () => {
    sim.injectFaults({ httpStatus: { status: 429, count: 2, retryAfter: '3', path: '/v1/mdmServers' } });
    await expect(client.listMdmServers()).resolves.toHaveLength(2);
    expect(sleeps).toHaveLength(2);
    expect(sleeps.every((ms) => ms >= 3000)).toBe(true);
    expect(sim.inspect.requestCounts()['GET /v1/mdmServers']).toBe(3);

    sleeps = [];
    sim.injectFaults({ httpStatus: { status: 429, count: 10, retryAfter: '5', path: '/v1/mdmServers' } });
    const err = await client.listMdmServers().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbmHttpError);
    expect(err).toMatchObject({ status: 429, transient: true, retryAfterMs: 5000 });
    expect(sleeps).toHaveLength(3);
  });

  it('retries a 503 with backoff', async () => {
    sim.injectFaults({ httpStatus: { status: 503, count: 1 } });
    await expect(client.listMdmServers()).resolves.toHaveLength(2);
    expect(sleeps).toHaveLength(1);
  });

  it('does not repeat a server creation after a 5xx (it may have happened), but does after a 429', async () => {
    sim.injectFaults({ httpStatus: { status: 503, count: 1, path: '/v1/mdmServers' } });
    await expect(client.createMdmServer({ serverName: 'Mosyle', serverCertificate: CERT })).rejects.toMatchObject({ status: 503, transient: true });
    expect(sim.inspect.requestCounts()['POST /v1/mdmServers']).toBe(1);
    expect(sleeps).toEqual([]);
    sim.injectFaults({ httpStatus: { status: 429, count: 1, retryAfter: '2', path: '/v1/mdmServers' } });
    await expect(client.createMdmServer({ serverName: 'Mosyle', serverCertificate: CERT })).resolves.toMatchObject({ serverName: 'Mosyle' });
    expect(sim.inspect.requestCounts()['POST /v1/mdmServers']).toBe(3);
    expect(sleeps).toEqual([2000]);
  });

  it('re-authenticates once when the API starts refusing its token', async () => {
    await client.listMdmServers();
    expect(sim.inspect.tokensIssued()).toBe(1);
    sim.injectFaults({ revokeTokens: true });
    await expect(client.listMdmServers()).resolves.toHaveLength(2);
    expect(sim.inspect.tokensIssued()).toBe(2);
    expect(client.tokens.tokenRequests()).toBe(2);
  });

  it('renews the token before the simulator would expire it when both share a clock', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    await sim.close();
    sim = await startAbmSimulator({ devices: 1, now: () => now });
    client = makeClient({ now: () => now });
    await client.listMdmServers();
    now += 2_881_000;
    await client.listMdmServers();
    now += 3_000_000;
    await client.listMdmServers();
    expect(sim.inspect.tokensIssued()).toBe(3);
    expect(sim.inspect.requestCounts()['GET /v1/mdmServers']).toBe(3);
  });

  it('refuses an assertion signed with another key at the token endpoint, with a clear typed error', async () => {
    const other = generateApiAccount('business');
    const wrong = createAbmClient({
      credentials: { ...sim.account, privateKeyPem: other.privateKeyPem, apiUrl: sim.apiUrl, tokenUrl: sim.tokenUrl },
      dispatcher: agent,
      retry: { maxAttempts: 1 },
    });
    const err = await wrong.listMdmServers().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbmTokenError);
    expect(err).toMatchObject({ status: 400, error: 'invalid_client', transient: false });
    const message = (err as Error).message;
    expect(message).toMatch(/signature does not verify/);
    expect(message).toMatch(/private key is the one downloaded for this API account/);
    expect(message).not.toContain('PRIVATE KEY');
    expect(sim.inspect.tokensIssued()).toBe(0);
    expect(sim.inspect.requestCounts()['GET /v1/mdmServers']).toBeUndefined();
  });

  it('accepts a missing Accept, */* and application/json, and answers 406 to one that cannot be JSON', async () => {
    const token = await client.tokens.accessToken();
    const status = async (accept?: string): Promise<number> => {
      const res = await request(`${sim.apiUrl}/mdmServers`, { headers: { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) }, dispatcher: agent });
      await res.body.text();
      return res.statusCode;
    };
    expect(await status()).toBe(200);
    expect(await status('*/*')).toBe(200);
    expect(await status('application/json; charset=utf-8')).toBe(200);
    expect(await status('text/html, application/*;q=0.5')).toBe(200);
    expect(await status('text/html')).toBe(406);
  });
});

describe('moves reach the DEP side', () => {
  it('an assignment makes devices appear (added) in one DEP server’s sync and a reassignment moves them (deleted, added)', async () => {
    const dep = await startSimulatorGroup({ servers: [{ name: 'jamf' }, { name: 'intune' }] });
    try {
      const [jamf, intune] = await client.listMdmServers();
      connectAbmToDep(sim, dep, { [jamf?.id ?? '']: 'jamf', [intune?.id ?? '']: 'intune' });
      const depA = createDepClient({ baseUrl: dep.url, token: dep.servers.get('jamf')?.token ?? ({} as never), dispatcher: agent });
      const depB = createDepClient({ baseUrl: dep.url, token: dep.servers.get('intune')?.token ?? ({} as never), dispatcher: agent });
      const cursorOf = async (c: typeof depA): Promise<string> => {
        let cursor = '';
        for await (const page of c.fetchAllDevices()) cursor = page.cursor ?? cursor;
        return cursor;
      };
      const [ca, cb] = [await cursorOf(depA), await cursorOf(depB)];
      const serials = (await allSerials(client)).slice(0, 3);

      const a1 = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: jamf?.id ?? '', serials });
      await waitOnSimClock(client, a1.id);
      const syncA1 = await depA.syncDevices({ cursor: ca });
      expect(syncA1.devices?.map((d) => [d.serial_number, d.op_type]).sort()).toEqual(serials.map((s) => [s, 'added']).sort());

      const a2 = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: intune?.id ?? '', serials: [serials[0] as string] });
      await waitOnSimClock(client, a2.id);
      const syncA2 = await depA.syncDevices({ cursor: syncA1.cursor ?? '' });
      expect(syncA2.devices?.map((d) => [d.serial_number, d.op_type])).toEqual([[serials[0], 'deleted']]);
      const syncB = await depB.syncDevices({ cursor: cb });
      expect(syncB.devices?.map((d) => [d.serial_number, d.op_type])).toEqual([[serials[0], 'added']]);
      expect(dep.servers.get('intune')?.inspect.device(serials[0] as string)?.model).toBe(sim.inspect.device(serials[0] as string)?.attributes.deviceModel);
      await depA.close();
      await depB.close();
    } finally {
      await dep.close();
    }
  });
});
