import { describe, expect, it } from 'vitest';
import { checkDetailsResponse, checkFetchResponse } from '../../../controller/dep/shapes.js';
import { DepProtocolError } from '../../../controller/dep/errors.js';

// The device records of a fetch or sync page and of a details answer: each known field checked for its type
// when present (null reads as absent), unknown keys passed through, an error naming where the record sits.

const good = {
  serial_number: 'C02T0HL0GGC0',
  model: 'MacBook Pro',
  description: null,
  os: 'OSX',
  device_family: 'Mac',
  imei: ['35-209900-176148-1'],
  meid: 'A0000012345678',
  is_replacement_device: false,
  released_by_replacement: null,
  op_type: 'modified',
  op_date: '2026-12-07T01:00:00Z',
  some_future_field: { nested: [1, 2] },
};

function fetchError(devices: unknown[]): string {
  try {
    checkFetchResponse('POST /devices/sync', { devices, cursor: 'c', more_to_follow: false });
  } catch (err) {
    expect(err).toBeInstanceOf(DepProtocolError);
    return (err as Error).message;
  }
  throw new Error('the page was accepted');
}

describe('device records in DEP answers', () => {
  it('accepts a record with every kind of field, nulls and unknown keys, and leaves it as it came', () => {
    const page = checkFetchResponse('POST /server/devices', { devices: [good, { serial_number: 'B' }], cursor: 'c', more_to_follow: false });
    expect(page.devices).toEqual([good, { serial_number: 'B' }]);
  });

  it.each([
    ['model', 42, 'devices[1].model should be a string'],
    ['op_date', 1765069200, 'devices[1].op_date should be a string'],
    ['profile_uuid', ['A'], 'devices[1].profile_uuid should be a string'],
    ['is_replacement_device', 'no', 'devices[1].is_replacement_device should be true or false'],
    ['released_by_replacement', 0, 'devices[1].released_by_replacement should be true or false'],
    ['imei', [1], 'devices[1].imei should be a string or a list of strings'],
    ['meid', { a: 'b' }, 'devices[1].meid should be a string or a list of strings'],
  ])('refuses %s holding %j, naming the record by its index', (field, value, message) => {
    expect(fetchError([good, { ...good, [field]: value }])).toContain(message);
  });

  it('requires a non-empty serial number in a fetch or sync page', () => {
    expect(fetchError([{ model: 'iPad' }])).toContain('devices[0].serial_number should be a non-empty string');
    expect(fetchError([good, { serial_number: '' }])).toContain('devices[1].serial_number should be a non-empty string');
    expect(fetchError([good, 'C02']).toString()).toContain('devices[1] should be an object');
  });

  it('names a details record by the serial it is keyed under, and lets its serial number be absent', () => {
    const ok = checkDetailsResponse('POST /devices', { devices: { C02: { response_status: 'NOT_FOUND' } } });
    expect(ok.devices).toEqual({ C02: { response_status: 'NOT_FOUND' } });
    expect(() => checkDetailsResponse('POST /devices', { devices: { C02: { response_status: 7 } } })).toThrow('devices["C02"].response_status should be a string');
  });
});
