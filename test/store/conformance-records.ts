/**
 * Conformance tests for servers, cursors, profiles, runs and the audit log.
 */
import { describe, expect, it } from 'vitest';
import type { Profile } from '../../controller/dep/types.js';
import type { AuditEntry, ProfileKey } from '../../controller/store/ports.js';
import { T0, at, type ConformanceContext } from './conformance-context.js';
import { convergedValue, parseConverged } from '../../controller/reconcile/planner.js';

const BODY: Profile = {
  profile_name: 'Classroom iPads',
  url: 'https://mdm.example.com/enroll',
  is_supervised: true,
  department: 'Lycée Voltaire IT',
  skip_setup_items: ['Location', 'Restore'],
};

const KEY: ProfileKey = { server: 'paris', name: 'classroom-ipads', contentHash: 'sha256:aaa' };

/** Registers the non-device groups. */
export function defineRecordConformance(ctx: ConformanceContext): void {
  describe('servers', () => {
    it('creates, updates only the given fields, clears with null, and lists by name', async () => {
      const s = ctx.store;
      const created = await s.upsertServer('paris', { tokenFingerprint: 'fp1', tokenExpiresAt: at(3600), at: T0 });
      expect(created).toEqual({
        name: 'paris', tokenFingerprint: 'fp1', tokenExpiresAt: at(3600), serverUuid: null, appleServerName: null, orgName: null, orgType: null,
        orgId: null, identityCheckedAt: null, updatedAt: T0, convergedKey: null,
      });
      const updated = await s.upsertServer('paris', { serverUuid: 'SRV-1', at: at(1) });
      expect(updated).toMatchObject({ tokenFingerprint: 'fp1', tokenExpiresAt: at(3600), serverUuid: 'SRV-1', updatedAt: at(1) });
      await s.upsertServer('paris', { tokenExpiresAt: null, at: at(2) });
      expect((await s.getServer('paris'))?.tokenExpiresAt).toBeNull();
      await s.upsertServer('lyon', { at: T0 });
      expect((await s.listServers()).map((r) => r.name)).toEqual(['lyon', 'paris']);
      expect(await s.getServer('nowhere')).toBeUndefined();
    });

    it('keeps the converged key until it is cleared, and ignores unknown servers', async () => {
      const s = ctx.store;
      await s.upsertServer('paris', { at: T0 });
      await s.setConvergedKey('paris', 'key-1');
      await s.upsertServer('paris', { tokenFingerprint: 'fp2', at: at(1) });
      expect((await s.getServer('paris'))?.convergedKey).toBe('key-1');
      await s.setConvergedKey('paris', null);
      expect((await s.getServer('paris'))?.convergedKey).toBeNull();
      await s.setConvergedKey('nowhere', 'key-2');
      expect(await s.getServer('nowhere')).toBeUndefined();
    });

    it('swaps the converged key only from the value it holds now', async () => {
      const s = ctx.store;
      await s.upsertServer('paris', { at: T0 });
      expect(await s.swapConvergedKey('paris', null, 'key-1')).toBe(true);
      expect(await s.swapConvergedKey('paris', null, 'key-2')).toBe(false);
      expect(await s.swapConvergedKey('paris', 'key-2', 'key-3')).toBe(false);
      expect((await s.getServer('paris'))?.convergedKey).toBe('key-1');
      expect(await s.swapConvergedKey('paris', 'key-1', 'claimed')).toBe(true);
      expect(await s.swapConvergedKey('paris', 'claimed', null)).toBe(true);
      expect((await s.getServer('paris'))?.convergedKey).toBeNull();
      expect(await s.swapConvergedKey('nowhere', null, 'key-4')).toBe(false);
      expect(await s.getServer('nowhere')).toBeUndefined();
    });

    it('stores the converged key as the planner writes it (digest and device count) and gives it back', async () => {
      const s = ctx.store;
      await s.upsertServer('paris', { at: T0 });
      const value = convergedValue('a'.repeat(64), 1_000_000);
      await s.setConvergedKey('paris', value);
      expect(parseConverged((await s.getServer('paris'))?.convergedKey)).toEqual({ key: 'a'.repeat(64), devices: 1_000_000, pending: [] });
      await s.setConvergedKey('paris', convergedValue('b'.repeat(64), 3, ['C02X1', 'C02X2']));
      expect(parseConverged((await s.getServer('paris'))?.convergedKey)).toEqual({ key: 'b'.repeat(64), devices: 3, pending: ['C02X1', 'C02X2'] });
    });

    it('records the Apple server identity (GET /account) and keeps it when token facts or the cursor change', async () => {
      const s = ctx.store;
      await s.upsertServer('paris', { tokenFingerprint: 'fp1', at: T0 });
      const identity = { serverUuid: '6666ED66666666666666666666666666', appleServerName: 'Paris MDM', orgName: 'Lycée Voltaire', orgType: 'edu', orgId: '6666666' };
      const recorded = await s.upsertServer('paris', { ...identity, identityCheckedAt: at(5), at: at(5) });
      expect(recorded).toEqual({ name: 'paris', tokenFingerprint: 'fp1', tokenExpiresAt: null, ...identity, identityCheckedAt: at(5), updatedAt: at(5), convergedKey: null });
      await s.upsertServer('paris', { tokenFingerprint: 'fp2', tokenExpiresAt: at(99), at: at(6) });
      await s.setCursor('paris', { cursor: 'c1', fetchedAt: at(7) });
      expect(await s.getServer('paris')).toMatchObject({ ...identity, identityCheckedAt: at(5), tokenFingerprint: 'fp2' });
      // A server renamed in the portal keeps its UUID; an unknown org type is cleared with null.
      await s.upsertServer('paris', { appleServerName: 'Paris MDM (lycée)', orgType: null, identityCheckedAt: at(8), at: at(8) });
      expect(await s.getServer('paris')).toMatchObject({ serverUuid: identity.serverUuid, appleServerName: 'Paris MDM (lycée)', orgType: null, orgId: '6666666', identityCheckedAt: at(8) });
      expect((await s.listServers())[0]).toMatchObject({ name: 'paris', appleServerName: 'Paris MDM (lycée)' });
    });

    it('adoptServer records the new identity and forgets only that server\'s devices, profiles, cursor and converged key', async () => {
      const s = ctx.store;
      for (const server of ['paris', 'lyon']) {
        await s.upsertServer(server, { tokenFingerprint: `fp-${server}`, serverUuid: `OLD-${server}`, appleServerName: `${server} MDM`, at: T0 });
        await s.setCursor(server, { cursor: 'c1', fetchStartedAt: T0, fetchedAt: at(1), syncedAt: at(2) });
        await s.setConvergedKey(server, 'key');
        await s.upsertDevices(server, [{ serial_number: `${server.toUpperCase()}1`, model: 'iPad Air', profile_uuid: 'U1', profile_status: 'assigned' }], T0);
        await s.beginDefine({ server, name: 'ipads', contentHash: 'h1', body: BODY, at: T0 });
        await s.completeDefine({ server, name: 'ipads', contentHash: 'h1' }, `U-${server}`, T0);
      }
      const run = await s.startRun({ startedAt: T0, commit: null, planHash: null, trigger: 'cli' });
      await s.appendAudit([{ runId: run.id, server: 'paris', serial: 'PARIS1', action: 'assign', before: null, after: 'U1', outcome: 'success', appleStatus: 'SUCCESS', at: T0 }]);

      const adopted = await s.adoptServer('paris', { serverUuid: 'NEW', appleServerName: 'Lyon MDM', orgName: 'Org', orgType: 'org', orgId: '7', identityCheckedAt: at(10), at: at(10) });
      expect(adopted).toEqual({
        name: 'paris', tokenFingerprint: 'fp-paris', tokenExpiresAt: null, serverUuid: 'NEW', appleServerName: 'Lyon MDM', orgName: 'Org', orgType: 'org',
        orgId: '7', identityCheckedAt: at(10), updatedAt: at(10), convergedKey: null,
      });
      expect(await s.getCursor('paris')).toEqual({ server: 'paris', cursor: null, fetchStartedAt: null, fetchedAt: null, syncedAt: null });
      expect(await s.countDevices('paris')).toBe(0);
      expect(await s.listProfiles('paris')).toEqual([]);
      // The other server is untouched, and so is history.
      expect(await s.getServer('lyon')).toMatchObject({ serverUuid: 'OLD-lyon', convergedKey: 'key' });
      expect(await s.getCursor('lyon')).toMatchObject({ cursor: 'c1' });
      expect(await s.countDevices('lyon')).toBe(1);
      expect(await s.listProfiles('lyon')).toHaveLength(1);
      expect(await s.readAudit({ server: 'paris', limit: 10 })).toHaveLength(1);
      expect(await s.listRuns({ limit: 10 })).toHaveLength(1);
      // A profile of the old server may be defined again under the same key on the new one.
      expect((await s.beginDefine({ server: 'paris', name: 'ipads', contentHash: 'h1', body: BODY, at: at(11) })).created).toBe(true);
      // Creates the row when missing.
      expect(await s.adoptServer('nice', { serverUuid: 'N', at: at(12) })).toMatchObject({ name: 'nice', serverUuid: 'N', updatedAt: at(12) });
    });
  });

  describe('cursors', () => {
    it('starts unknown, creates the server row, and updates only the given fields', async () => {
      const s = ctx.store;
      expect(await s.getCursor('paris')).toBeUndefined();
      await s.setCursor('paris', { cursor: null, fetchStartedAt: T0 });
      expect(await s.getServer('paris')).toBeDefined();
      await s.setCursor('paris', { cursor: 'page-1' });
      const done = await s.setCursor('paris', { cursor: 'page-2', fetchedAt: at(10) });
      expect(done).toEqual({ server: 'paris', cursor: 'page-2', fetchStartedAt: T0, fetchedAt: at(10), syncedAt: null });
      await s.setCursor('paris', { cursor: 'sync-1', syncedAt: at(20) });
      expect(await s.getCursor('paris')).toEqual({ server: 'paris', cursor: 'sync-1', fetchStartedAt: T0, fetchedAt: at(10), syncedAt: at(20) });
      // EXPIRED_CURSOR: drop the cursor but keep the history of when we last fetched.
      await s.setCursor('paris', { cursor: null });
      expect(await s.getCursor('paris')).toMatchObject({ cursor: null, fetchedAt: at(10), syncedAt: at(20) });
    });

    it('keeps token facts when the cursor changes, and the cursor when token facts change', async () => {
      const s = ctx.store;
      await s.upsertServer('paris', { tokenFingerprint: 'fp', at: T0 });
      await s.setCursor('paris', { cursor: 'c1', syncedAt: at(1) });
      await s.upsertServer('paris', { tokenExpiresAt: at(99), at: at(2) });
      expect((await s.getServer('paris'))?.tokenFingerprint).toBe('fp');
      expect((await s.getCursor('paris'))?.cursor).toBe('c1');
    });
  });

  it('records results and their audit rows together', async () => {
    const s = ctx.store;
    await s.upsertDevices('paris', [{ serial_number: 'R1', model: 'iPad Air' }, { serial_number: 'R2', model: 'iPad Air' }], T0);
    const audit = (serial: string): AuditEntry => ({ runId: null, server: 'paris', serial, action: 'assign', before: null, after: 'U1', outcome: 'success', appleStatus: 'SUCCESS', at: at(1) });
    const n = await s.recordResults('paris', [{ serial: 'R1', result: { status: 'success', at: at(1), appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'ipads' }], [audit('R1'), audit('R2')]);
    expect(n).toBe(1);
    expect(await s.getDevice('paris', 'R1')).toMatchObject({ desiredProfile: 'ipads', lastResult: { status: 'success' } });
    expect((await s.readAudit({ server: 'paris', limit: 10 })).map((a) => a.serial)).toEqual(['R1', 'R2']);
  });

  describe('profiles', () => {
    it("stores a define's audit row with its UUID, once: not on an idempotent repeat, not on a conflict", async () => {
      const s = ctx.store;
      const audit = (uuid: string, t: Date) => ({ runId: null, server: 'paris', serial: null, action: 'define', before: null, after: uuid, outcome: 'success' as const, appleStatus: null, at: t });
      await s.beginDefine({ ...KEY, body: BODY, at: T0 });
      await s.completeDefine(KEY, 'UUID-1', at(1), audit('UUID-1', at(1)));
      await s.completeDefine(KEY, 'UUID-1', at(2), audit('UUID-1', at(2)));
      await expect(s.completeDefine(KEY, 'UUID-2', at(3), audit('UUID-2', at(3)))).rejects.toMatchObject({ code: 'store-conflict' });
      await expect(s.completeDefine({ ...KEY, name: 'none' }, 'UUID-3', at(4), audit('UUID-3', at(4)))).rejects.toMatchObject({ code: 'store-not-found' });
      expect((await s.readAudit({ server: 'paris', limit: 10 })).map((a) => [a.action, a.after, a.at])).toEqual([['define', 'UUID-1', at(1)]]);
    });

    it('records the intent once, then the UUID, and never redefines', async () => {
      const s = ctx.store;
      const first = await s.beginDefine({ ...KEY, body: BODY, at: T0 });
      expect(first).toEqual({ created: true, profile: { ...KEY, state: 'defining', uuid: null, body: BODY, createdAt: T0, definedAt: null } });
      const again = await s.beginDefine({ ...KEY, body: BODY, at: at(5) });
      expect(again).toEqual({ created: false, profile: first.profile });
      const defined = await s.completeDefine(KEY, 'UUID-1', at(1));
      expect(defined).toMatchObject({ state: 'defined', uuid: 'UUID-1', definedAt: at(1), body: BODY });
      expect(await s.completeDefine(KEY, 'UUID-1', at(2))).toEqual(defined);
      await expect(s.completeDefine(KEY, 'UUID-2', at(3))).rejects.toMatchObject({ code: 'store-conflict' });
      const later = await s.beginDefine({ ...KEY, body: BODY, at: at(9) });
      expect(later.created).toBe(false);
      expect(later.profile.uuid).toBe('UUID-1');
      expect(await s.listProfiles('paris', { state: 'defined' })).toEqual([defined]);
      expect(await s.listProfiles('lyon')).toEqual([]);
    });

    it('lets exactly one of two racing handles record the intent', async () => {
      const other = await ctx.open();
      const [a, b] = await Promise.all([
        ctx.store.beginDefine({ ...KEY, body: BODY, at: T0 }),
        other.beginDefine({ ...KEY, body: BODY, at: at(1) }),
      ]);
      expect([a.created, b.created].sort()).toEqual([false, true]);
      expect(a.profile).toEqual(b.profile);
    });

    it('leaves a crashed define visible as `defining` to the next process', async () => {
      await ctx.store.beginDefine({ ...KEY, body: BODY, at: T0 });
      await ctx.store.close();
      const next = await ctx.open();
      const leftovers = await next.listProfiles('paris', { state: 'defining' });
      expect(leftovers.map((p) => [p.name, p.contentHash, p.uuid])).toEqual([[KEY.name, KEY.contentHash, null]]);
      expect(await next.listProfiles('paris', { state: 'defined' })).toEqual([]);
    });

    it('abandons only a defining row; rejects unknown keys and a UUID already used on the server', async () => {
      const s = ctx.store;
      await expect(s.completeDefine(KEY, 'U', T0)).rejects.toMatchObject({ code: 'store-not-found' });
      await s.beginDefine({ ...KEY, body: BODY, at: T0 });
      expect(await s.abandonDefine(KEY)).toBe(true);
      expect(await s.getProfile(KEY)).toBeUndefined();
      await s.beginDefine({ ...KEY, body: BODY, at: T0 });
      await s.completeDefine(KEY, 'UUID-1', T0);
      expect(await s.abandonDefine(KEY)).toBe(false);
      const other = { ...KEY, contentHash: 'sha256:bbb' };
      await s.beginDefine({ ...other, body: { ...BODY, department: 'Other' }, at: at(1) });
      await expect(s.completeDefine(other, 'UUID-1', at(2))).rejects.toMatchObject({ code: 'store-conflict' });
      expect((await s.getProfile(other))?.state).toBe('defining');
    });

    it('forgets a defined profile Apple no longer knows, so its content can be defined again', async () => {
      const s = ctx.store;
      await s.beginDefine({ ...KEY, body: BODY, at: T0 });
      await s.completeDefine(KEY, 'UUID-GONE', T0);
      expect(await s.forgetProfile('lyon', 'UUID-GONE')).toBe(false);
      expect(await s.forgetProfile('paris', 'UUID-GONE')).toBe(true);
      expect(await s.getProfile(KEY)).toBeUndefined();
      expect(await s.forgetProfile('paris', 'UUID-GONE')).toBe(false);
      const again = await s.beginDefine({ ...KEY, body: BODY, at: at(1) });
      expect(again.created).toBe(true);
      await s.completeDefine(KEY, 'UUID-NEW', at(2));
      expect(await s.getProfile(KEY)).toMatchObject({ state: 'defined', uuid: 'UUID-NEW' });
    });

    it('keys on server + name + content hash and lists by name then creation', async () => {
      const s = ctx.store;
      await s.beginDefine({ server: 'paris', name: 'b', contentHash: 'h1', body: BODY, at: at(3) });
      await s.beginDefine({ server: 'paris', name: 'a', contentHash: 'h2', body: BODY, at: at(2) });
      await s.beginDefine({ server: 'paris', name: 'a', contentHash: 'h1', body: BODY, at: at(1) });
      await s.beginDefine({ server: 'lyon', name: 'a', contentHash: 'h1', body: BODY, at: at(1) });
      await s.completeDefine({ server: 'paris', name: 'a', contentHash: 'h2' }, 'U2', at(4));
      const list = await s.listProfiles('paris');
      expect(list.map((p) => `${p.name}/${p.contentHash}/${p.state}`)).toEqual(['a/h1/defining', 'a/h2/defined', 'b/h1/defining']);
      expect((await s.listProfiles('paris', { state: 'defined' })).map((p) => p.uuid)).toEqual(['U2']);
    });
  });

  describe('runs', () => {
    it('records start and end, lists newest first, and rejects an unknown run', async () => {
      const s = ctx.store;
      const r1 = await s.startRun({ startedAt: T0, commit: 'c1', planHash: 'p1', trigger: 'schedule' });
      expect(r1).toEqual({ id: r1.id, startedAt: T0, finishedAt: null, commit: 'c1', planHash: 'p1', trigger: 'schedule', result: null, summary: null });
      const r2 = await s.startRun({ startedAt: at(60), commit: null, planHash: null, trigger: 'manual' });
      expect(r2.id).toBeGreaterThan(r1.id);
      const summary = { assigned: 998, failed: 2, servers: ['paris'], note: 'Lycée', nested: { ok: true, none: null } };
      const done = await s.finishRun(r1.id, { finishedAt: at(30), result: 'partial', summary });
      expect(done).toMatchObject({ finishedAt: at(30), result: 'partial', summary });
      expect(await s.listRuns({ limit: 10 })).toEqual([r2, done]);
      expect((await s.listRuns({ limit: 1 })).map((r) => r.id)).toEqual([r2.id]);
      await expect(s.finishRun(r2.id + 1000, { finishedAt: T0, result: 'noop', summary: null })).rejects.toMatchObject({ code: 'store-not-found' });
    });
  });

  describe('audit log', () => {
    const entry = (i: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
      runId: 1, server: 'paris', serial: `SER${String(i).padStart(4, '0')}`, action: 'assign', before: null,
      after: 'UUID-1', outcome: 'success', appleStatus: 'SUCCESS', at: at(i), ...extra,
    });

    it('appends in order and reads back by insertion with filters and paging', async () => {
      const s = ctx.store;
      // Serials and times deliberately out of order: reading must follow insertion, not either of them.
      await s.appendAudit([entry(3), entry(1, { outcome: 'throttled', appleStatus: 'THROTTLED' })]);
      await s.appendAudit([entry(2, { runId: 2, server: 'lyon' }), entry(1, { runId: 2, before: 'UUID-1', after: null, action: 'remove' })]);
      await s.appendAudit([entry(0, { runId: null, serial: null, action: 'define', after: 'UUID-9' })]);
      const all = await s.readAudit({ limit: 100 });
      expect(all.map((e) => [e.serial, e.action])).toEqual([
        ['SER0003', 'assign'], ['SER0001', 'assign'], ['SER0002', 'assign'], ['SER0001', 'remove'], [null, 'define'],
      ]);
      expect(all[1]).toEqual({ ...entry(1, { outcome: 'throttled', appleStatus: 'THROTTLED' }), seq: all[1]!.seq });
      expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((a, b) => a - b));
      expect((await s.readAudit({ runId: 2, limit: 10 })).map((e) => e.serial)).toEqual(['SER0002', 'SER0001']);
      expect((await s.readAudit({ server: 'paris', serial: 'SER0001', limit: 10 })).map((e) => e.action)).toEqual(['assign', 'remove']);
      const page1 = await s.readAudit({ limit: 2 });
      const page2 = await s.readAudit({ afterSeq: page1[1]!.seq, limit: 2 });
      expect([...page1, ...page2]).toEqual(all.slice(0, 4));
    });

    it("keeps every row's own values and order when a batch's rows share most columns (one Apple call's serials)", async () => {
      const s = ctx.store;
      const call = Array.from({ length: 5 }, (_, i) => entry(i, { at: at(9) }));
      call[2] = { ...call[2]!, outcome: 'failed', appleStatus: 'FAILED' };
      await s.appendAudit(call);
      // Rows equal in every column, the serial included, are two rows.
      await s.appendAudit([entry(7, { at: at(9) }), entry(7, { at: at(9) })]);
      await s.appendAudit([entry(8, { runId: null, serial: null, action: 'define', after: 'UUID-9' }), entry(8, { runId: null, serial: null, action: 'define', after: 'UUID-9' })]);
      const all = await s.readAudit({ limit: 100 });
      expect(all.map(({ seq: _seq, ...e }) => e)).toEqual([...call, entry(7, { at: at(9) }), entry(7, { at: at(9) }),
        entry(8, { runId: null, serial: null, action: 'define', after: 'UUID-9' }), entry(8, { runId: null, serial: null, action: 'define', after: 'UUID-9' })]);
    });

    it('offers no way to change or delete an entry', async () => {
      const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(ctx.store)).filter((m) => /audit/i.test(m));
      expect(methods.sort()).toEqual(['appendAudit', 'readAudit']);
    });
  });
}
