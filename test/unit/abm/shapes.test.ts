import { describe, expect, it } from 'vitest';
import { AbmHttpError, AbmProtocolError, parseApiErrors, redactAbm } from '../../../controller/abm/errors.js';
import { parseActivityResultsCsv } from '../../../controller/abm/results.js';
import { checkActivity, checkAssignedServerLinkage, checkDeviceLinkagePage, checkMdmServerPage, checkOrgDevicePage } from '../../../controller/abm/shapes.js';

const E = '/v1/orgDevices';
const device = (attributes: Record<string, unknown>, id = 'C02XK1JMJG5J'): Record<string, unknown> => ({ type: 'orgDevices', id, attributes });

describe('orgDevices pages', () => {
  it('reads imei and meid as lists whether Apple sends lists or strings', () => {
    const page = checkOrgDevicePage(E, {
      data: [device({ serialNumber: 'A1', imei: ['351234567890123', '351234567890124'], meid: [] }, 'A1'), device({ serialNumber: 'B2', imei: '359876543210987', meid: '' }, 'B2'), device({ serialNumber: 'C3' }, 'C3')],
    });
    expect(page.items.map((d) => [d.serialNumber, d.imei, d.meid])).toEqual([
      ['A1', ['351234567890123', '351234567890124'], []],
      ['B2', ['359876543210987'], []],
      ['C3', [], []],
    ]);
  });

  it('takes the serial from the id when fields[] left serialNumber out, and purchaseSourceUid as Apple’s example spells it', () => {
    const [d] = checkOrgDevicePage(E, { data: [device({ status: 'ASSIGNED', purchaseSourceUid: '123' }, 'SER1')] }).items;
    expect(d).toMatchObject({ id: 'SER1', serialNumber: 'SER1', status: 'ASSIGNED', purchaseSourceId: '123' });
  });

  it('finds the next cursor in meta.paging or else in links.next, and none on the last page', () => {
    expect(checkOrgDevicePage(E, { data: [], meta: { paging: { nextCursor: 'abc', total: 5, limit: 1 } } })).toMatchObject({ nextCursor: 'abc', total: 5 });
    expect(checkOrgDevicePage(E, { data: [], links: { next: 'https://api-business.apple.com/v1/orgDevices?cursor=xyz&limit=2' } }).nextCursor).toBe('xyz');
    expect(checkOrgDevicePage(E, { data: [], links: { self: 'x' }, meta: { paging: { total: 0, limit: 100 } } }).nextCursor).toBeUndefined();
    expect(() => checkOrgDevicePage(E, { data: [], links: { next: 'https://api-business.apple.com/v1/orgDevices?limit=2' } })).toThrow(/no cursor/);
  });

  it('refuses a body that is not a document, a data that is not a list, a wrong type, a number for a serial and a non-string list of imei', () => {
    const bad: unknown[] = [
      [],
      { data: {} },
      { data: [{ type: 'mdmServers', id: 'x', attributes: {} }] },
      { data: [device({ serialNumber: 42 })] },
      { data: [device({ serialNumber: 'A', imei: [1] })] },
      { data: [{ type: 'orgDevices', attributes: {} }] },
    ];
    for (const b of bad) expect(() => checkOrgDevicePage(E, b)).toThrow(AbmProtocolError);
  });
});

describe('other documents', () => {
  it('reads servers, device linkages, assigned-server linkages and activities', () => {
    const servers = checkMdmServerPage('/v1/mdmServers', {
      data: [{ type: 'mdmServers', id: 'S1', attributes: { serverName: 'Jamf', serverType: 'MDM', deviceCount: 3, enableMdmDisownFlag: false, defaultProductFamilies: ['Mac'] } }],
    });
    expect(servers.items[0]).toMatchObject({ id: 'S1', serverName: 'Jamf', deviceCount: 3, defaultProductFamilies: ['Mac'] });
    expect(() => checkMdmServerPage('/v1/mdmServers', { data: [{ type: 'mdmServers', id: 'S1', attributes: { serverName: 'x', deviceCount: -1 } }] })).toThrow(/deviceCount/);
    expect(checkDeviceLinkagePage('/x', { data: [{ type: 'orgDevices', id: 'A' }, { type: 'orgDevices', id: 'B' }] }).items).toEqual(['A', 'B']);
    expect(checkAssignedServerLinkage('/x', { data: { type: 'mdmServers', id: 'S1' } })).toBe('S1');
    expect(checkAssignedServerLinkage('/x', { data: null })).toBeNull();
    expect(() => checkAssignedServerLinkage('/x', { data: { type: 'orgDevices', id: 'S1' } })).toThrow(AbmProtocolError);
    const a = checkActivity('/x', { data: { type: 'orgDeviceActivities', id: 'A1', attributes: { status: 'COMPLETED', subStatus: 'COMPLETED_WITH_SUCCESS', downloadUrl: 'https://blob/x.csv' } } });
    expect(a).toMatchObject({ id: 'A1', status: 'COMPLETED', subStatus: 'COMPLETED_WITH_SUCCESS', downloadUrl: 'https://blob/x.csv' });
    expect(() => checkActivity('/x', { data: { type: 'orgDeviceActivities', id: 'A1', attributes: { status: 'DONE' } } })).toThrow(/status should be one of/);
  });
});

describe('errors', () => {
  it('keeps Apple’s JSON:API error entries, scrubbed of JWTs and bearer tokens, in a typed error', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJCVVNJTkVTU0FQSS54In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
    const body = JSON.stringify({ errors: [{ id: 'e1', status: '409', code: 'ENTITY_ERROR.RELATIONSHIP.INVALID', title: 'Invalid', detail: `bad server, assertion ${jwt}`, source: { pointer: '/data/relationships/mdmServer' } }] });
    const err = new AbmHttpError({ status: 409, method: 'POST', endpoint: '/v1/orgDeviceActivities', body, secrets: ['opaque-access-token-123'] });
    expect(err.code).toBe('ENTITY_ERROR.RELATIONSHIP.INVALID');
    expect(err.errors[0]?.source).toEqual({ pointer: '/data/relationships/mdmServer' });
    expect(err.transient).toBe(false);
    expect(`${err.message} ${err.body}`).not.toContain(jwt);
    expect(err.message).toMatch(/HTTP 409 ENTITY_ERROR\.RELATIONSHIP\.INVALID: bad server/);
    expect(new AbmHttpError({ status: 429, method: 'GET', endpoint: E, body: '' }).transient).toBe(true);
    expect(parseApiErrors('not json')).toEqual([]);
    expect(redactAbm('Authorization: Bearer abc.def-ghi and opaque-access-token-123', ['opaque-access-token-123'])).toBe('Authorization: Bearer [REDACTED] and [REDACTED]');
  });
});

describe('activity result CSV', () => {
  it('reads serial, status and message columns by name, with quotes, CRLF and a BOM', () => {
    const csv = '\uFEFFSerial Number,Status,Error Message\r\nA1,SUCCESS,\r\n"B2",FAILED,"Device is not assigned, try again"\r\n\r\n';
    expect(parseActivityResultsCsv('/x', csv)).toEqual([
      { serial: 'A1', status: 'SUCCESS' },
      { serial: 'B2', status: 'FAILED', message: 'Device is not assigned, try again' },
    ]);
    expect(parseActivityResultsCsv('/x', 'serialNumber,result\nZ9,OK\n')).toEqual([{ serial: 'Z9', status: 'OK' }]);
  });

  it('refuses a file without serial and status columns rather than guessing', () => {
    expect(() => parseActivityResultsCsv('/x', 'a,b\n1,2\n')).toThrow(AbmProtocolError);
  });
});
