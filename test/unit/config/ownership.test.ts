import { describe, expect, it } from 'vitest';
import { buildOwnershipIndex, desiredOwner } from '../../../controller/config/ownership.js';
import type { MdmServer, Organization, ServerOwnership } from '../../../controller/config/types.js';

// The planner-facing model: which server the config wants each device of an organization on, and why.

const loc = { file: 'servers.yaml', line: 1, column: 1 };

function org(name: string): Organization {
  return { name, scope: 'business', clientId: 'BUSINESSAPI.x', keyId: 'k', privateKey: { file: `${name}.pem` }, apiUrl: 'https://api-business.apple.com/v1', tokenUrl: 'https://account.apple.com/auth/oauth2/token', driftPolicy: 'correct', unclaimedDevices: 'ignore', source: loc };
}

function server(name: string, ownership?: Partial<ServerOwnership> & { organization: string }): MdmServer {
  const s: MdmServer = { name, token: { file: 't' }, privateKey: { file: 'k' }, unassignedDevices: 'ignore', driftPolicy: 'correct', source: loc };
  if (ownership) s.ownership = { abmServerName: `${name} MDM`, serials: [], orderNumbers: [], productFamilies: [], source: loc, ...ownership };
  return s;
}

const config = {
  organizations: [org('acme'), org('beta')],
  servers: [
    server('macs', { organization: 'acme', productFamilies: ['Mac'], serials: ['C02SPECIAL01'] }),
    server('sales', { organization: 'acme', orderNumbers: ['MX1234567'], serials: ['C02SALES0001'] }),
    server('kiosk', { organization: 'acme', serials: ['C02KIOSK0001'], productFamilies: ['iPad'] }),
    server('beta-all', { organization: 'beta', productFamilies: ['Mac', 'iPad'] }),
    server('legacy'),
  ],
};
const index = buildOwnershipIndex(config);

describe('desiredOwner', () => {
  it('takes an explicit serial over an order number over a product family', () => {
    // In order MX1234567 and a Mac, but listed by serial for kiosk.
    expect(desiredOwner(index, 'acme', { serialNumber: 'C02KIOSK0001', orderNumber: 'MX1234567', productFamily: 'Mac' })).toEqual({ server: 'kiosk', abmServerName: 'kiosk MDM', rule: 'serial' });
    // A Mac of order MX1234567: the order wins over the family.
    expect(desiredOwner(index, 'acme', { serialNumber: 'C02OTHER0001', orderNumber: 'MX1234567', productFamily: 'Mac' })).toEqual({ server: 'sales', abmServerName: 'sales MDM', rule: 'orderNumber' });
    expect(desiredOwner(index, 'acme', { serialNumber: 'C02OTHER0002', orderNumber: 'MX0000001', productFamily: 'Mac' })).toEqual({ server: 'macs', abmServerName: 'macs MDM', rule: 'productFamily' });
    expect(desiredOwner(index, 'acme', { serialNumber: 'C02OTHER0003', productFamily: 'iPad' })?.server).toBe('kiosk');
  });

  it('compares serials and order numbers without regard to case or surrounding blanks', () => {
    expect(desiredOwner(index, 'acme', { serialNumber: ' c02sales0001 ' })?.server).toBe('sales');
    expect(desiredOwner(index, 'acme', { serialNumber: 'C02OTHER0004', orderNumber: 'mx1234567', productFamily: null })?.server).toBe('sales');
  });

  it('answers undefined for unclaimed devices and for other organizations', () => {
    expect(desiredOwner(index, 'acme', { serialNumber: 'C02OTHER0005', orderNumber: null, productFamily: 'iPhone' })).toBeUndefined();
    expect(desiredOwner(index, 'acme', { serialNumber: 'C02OTHER0006' })).toBeUndefined();
    // A family rule of one organization says nothing about another's devices.
    expect(desiredOwner(index, 'beta', { serialNumber: 'C02SALES0001', productFamily: 'iPhone' })).toBeUndefined();
    expect(desiredOwner(index, 'beta', { serialNumber: 'C02X00000001', productFamily: 'iPad' })?.server).toBe('beta-all');
    expect(desiredOwner(index, 'nobody', { serialNumber: 'C02KIOSK0001' })).toBeUndefined();
  });

  it('lists each organization with its servers, including one no server names', () => {
    const empty = buildOwnershipIndex({ organizations: [org('solo')], servers: [server('legacy')] });
    expect([...empty.organizations.keys()]).toEqual(['solo']);
    expect(empty.organizations.get('solo')?.servers).toEqual([]);
    expect(index.organizations.get('acme')?.servers.map((s) => s.name)).toEqual(['macs', 'sales', 'kiosk']);
    expect(index.organizations.get('acme')?.organization?.name).toBe('acme');
  });

  it('answers 100,000 lookups from an index of 100,000 serials in well under a second', () => {
    const serials = Array.from({ length: 100_000 }, (_, i) => `C${String(i).padStart(11, '0')}`);
    const big = buildOwnershipIndex({ organizations: [org('acme')], servers: [server('a', { organization: 'acme', serials: serials.filter((_, i) => i % 2 === 0) }), server('b', { organization: 'acme', serials: serials.filter((_, i) => i % 2 === 1) })] });
    const started = performance.now();
    let a = 0;
    for (const s of serials) if (desiredOwner(big, 'acme', { serialNumber: s })?.server === 'a') a++;
    expect(a).toBe(50_000);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
