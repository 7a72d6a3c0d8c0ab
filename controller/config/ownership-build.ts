/**
 * The ownership fields of `kind: MdmServer` (issue 15): `organization`, `abmServerName`,
 * `enableMdmDisownFlag` and `devices` (serials, serial files, order numbers, product families). Builds a
 * server's ServerOwnership and reports, across all servers, every device rule two servers claim: a serial
 * (anywhere), an order number (anywhere), a product family (within one organization), and two servers of one
 * organization with the same name in Apple Business Manager. Each such error names both places.
 *
 * Serial files use Assignment's reader (assignments.ts openSerialFile, serials.ts parseSerialFile), and long
 * inline lists the same fast path (documents.ts), so 100,000 owned serials cost what 100,000 assigned ones do.
 */
import { isScalar, isSeq } from 'yaml';
import type { ProblemSink, SourceLoc } from './problems.js';
import type { ParsedDoc } from './documents.js';
import { locIn, resolveRef, type BuildContext, type DocIndex } from './build.js';
import { openSerialFile } from './assignments.js';
import { findNode, nodeOffset } from './yaml-nodes.js';
import { normaliseSerial, parseSerialFile, serialProblem } from './serials.js';
import type { SourceFile } from './source.js';
import type { AbmProductFamily, ServerOwnership } from './types.js';

/** `spec.devices` of a schema-valid MdmServer document. */
interface DevicesSpec {
  serials?: string[];
  serialFiles?: string[];
  orderNumbers?: string[];
  productFamilies?: AbmProductFamily[];
}

/** A place a rule was declared, for the second of two claims. */
interface Claim {
  server: string;
  loc: SourceLoc;
}

function at(loc: SourceLoc): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

/**
 * Every ownership claim of a configuration. Serials are kept as parallel arrays of small integers (as
 * assignments.ts SerialRegistry does), so 100,000 owned serials are not 100,000 objects; a location is only
 * computed when a conflict is reported.
 */
export class OwnershipRegistry {
  private readonly serials = new Map<string, number>();
  private readonly servers: string[] = [];
  private readonly sources: SourceFile[] = [];
  private readonly originServer: number[] = [];
  private readonly originSource: number[] = [];
  private readonly originOffset: number[] = [];
  private readonly orders = new Map<string, Claim>();
  private readonly families = new Map<string, Claim>();
  private readonly names = new Map<string, Claim>();

  /** Distinct serials claimed. */
  get size(): number {
    return this.serials.size;
  }

  /** Registers a serial for a server; reports it when already claimed. Returns false for a repeat. */
  addSerial(serial: string, server: string, source: SourceFile, offset: number, sink: ProblemSink): boolean {
    const first = this.serials.get(serial);
    if (first === undefined) {
      this.serials.set(serial, this.originOffset.length);
      this.originServer.push(intern(this.servers, server));
      this.originSource.push(intern(this.sources, source));
      this.originOffset.push(offset);
      return true;
    }
    const firstServer = this.servers[this.originServer[first] ?? 0] ?? '';
    const firstLoc = (this.sources[this.originSource[first] ?? 0] as SourceFile).loc(this.originOffset[first] ?? 0);
    const here = source.loc(offset);
    if (firstServer === server) {
      sink.warning('duplicate-serial', here, `serial ${serial} is listed twice in the devices of MdmServer "${server}" (first at ${at(firstLoc)})`, [{ ...firstLoc, message: 'first listing' }]);
    } else {
      sink.error('ownership-conflict', here, `serial ${serial} is claimed by MdmServer "${server}" and by MdmServer "${firstServer}" at ${at(firstLoc)}; a device is owned by one MDM server`, [
        { ...firstLoc, message: `claimed by MdmServer "${firstServer}"` },
      ]);
    }
    return false;
  }

  /** Registers an order number (upper case); reports one another server claimed. Returns false for a repeat. */
  addOrder(order: string, server: string, loc: SourceLoc, sink: ProblemSink): boolean {
    return this.claim(this.orders, order, server, loc, sink, `order number ${order}`);
  }

  /** Registers a product family within an organization; reports one another server of it claimed. */
  addFamily(organization: string, family: string, server: string, loc: SourceLoc, sink: ProblemSink): boolean {
    return this.claim(this.families, `${organization}\u0000${family}`, server, loc, sink, `product family ${family} in Organization "${organization}"`);
  }

  /** Registers a server's name in Apple Business Manager within an organization; reports a name given twice. */
  addServerName(organization: string, abmServerName: string, server: string, loc: SourceLoc, sink: ProblemSink): void {
    const key = `${organization}\u0000${abmServerName}`;
    const first = this.names.get(key);
    if (!first) {
      this.names.set(key, { server, loc });
      return;
    }
    sink.error('ownership-conflict', loc, `MdmServer "${server}" and MdmServer "${first.server}" at ${at(first.loc)} both have the name "${abmServerName}" in Organization "${organization}"; set a distinct abmServerName`, [
      { ...first.loc, message: `MdmServer "${first.server}"` },
    ]);
  }

  private claim(map: Map<string, Claim>, key: string, server: string, loc: SourceLoc, sink: ProblemSink, what: string): boolean {
    const first = map.get(key);
    if (!first) {
      map.set(key, { server, loc });
      return true;
    }
    if (first.server === server) {
      sink.warning('ownership-conflict', loc, `${what} is listed twice for MdmServer "${server}" (first at ${at(first.loc)})`, [{ ...first.loc, message: 'first listing' }]);
    } else {
      sink.error('ownership-conflict', loc, `${what} is claimed by MdmServer "${server}" and by MdmServer "${first.server}" at ${at(first.loc)}; give it to one server`, [
        { ...first.loc, message: `claimed by MdmServer "${first.server}"` },
      ]);
    }
    return false;
  }
}

/** Index of a value in a small list, adding it when new (the last one is the usual hit). */
function intern<T>(list: T[], value: T): number {
  if (list[list.length - 1] === value) return list.length - 1;
  const i = list.indexOf(value);
  if (i !== -1) return i;
  list.push(value);
  return list.length - 1;
}

/**
 * Builds the ownership of a schema-valid MdmServer document, registering its claims. Undefined when the
 * server names no organization (then `devices`, `abmServerName` and `enableMdmDisownFlag` are reported).
 */
export async function buildOwnership(d: ParsedDoc, index: DocIndex, ctx: BuildContext, registry: OwnershipRegistry, sink: ProblemSink): Promise<ServerOwnership | undefined> {
  const spec = d.value['spec'] as { organization?: string; abmServerName?: string; enableMdmDisownFlag?: boolean; devices?: DevicesSpec };
  const name = d.name ?? '';
  if (spec.organization === undefined) {
    if (spec.devices !== undefined) {
      sink.error('organization-missing', locIn(d, ['spec', 'devices']), `devices declares which devices MdmServer "${name}" owns in Apple Business/School Manager; name its Organization in spec.organization`);
    }
    for (const key of ['abmServerName', 'enableMdmDisownFlag'] as const) {
      if (spec[key] !== undefined) sink.warning('organization-missing', locIn(d, ['spec', key]), `${key} has no effect without spec.organization`);
    }
    return undefined;
  }
  const organization = spec.organization;
  resolveRef(index, 'Organization', organization, d, ['spec', 'organization'], sink);
  const ownership: ServerOwnership = {
    organization,
    abmServerName: spec.abmServerName ?? name,
    serials: [],
    orderNumbers: [],
    productFamilies: [],
    source: locIn(d, ['spec', 'organization']),
  };
  if (spec.enableMdmDisownFlag !== undefined) ownership.enableMdmDisownFlag = spec.enableMdmDisownFlag;
  registry.addServerName(organization, ownership.abmServerName, name, locIn(d, [...(spec.abmServerName !== undefined ? ['spec', 'abmServerName'] : ['metadata', 'name'])]), sink);
  const devices = spec.devices;
  if (devices === undefined) return ownership;

  const accept = (raw: string, source: SourceFile, offset: number): void => {
    const serial = normaliseSerial(raw);
    if (serial === undefined) sink.error('serial-format', source.loc(offset), serialProblem(raw));
    else if (registry.addSerial(serial, name, source, offset, sink)) ownership.serials.push(serial);
  };
  if (devices.serials) {
    const seq = findNode(d.doc, ['spec', 'devices', 'serials']).node;
    const items = isSeq(seq) ? seq.items : [];
    const offsets = d.serialOffsets;
    devices.serials.forEach((raw, i) => {
      const item = items[i];
      accept(String(raw), d.source, offsets ? (offsets[i] ?? 0) : nodeOffset(isScalar(item) ? item : undefined));
    });
  }
  for (const [i, file] of (devices.serialFiles ?? []).entries()) {
    const source = await openSerialFile(file, d, ctx, ['spec', 'devices', 'serialFiles', i], sink);
    if (!source) continue;
    const content = parseSerialFile(source.text);
    if (content.problem) sink.error('serial-file', source.loc(content.problem.offset), content.problem.message);
    if (content.entries.length === 0 && !content.problem) sink.warning('serial-file', source.loc(0), 'serial file lists no serial numbers');
    for (const e of content.entries) accept(e.raw, source, e.offset);
  }
  (devices.orderNumbers ?? []).forEach((raw, i) => {
    const order = raw.toUpperCase();
    if (registry.addOrder(order, name, locIn(d, ['spec', 'devices', 'orderNumbers', i]), sink)) ownership.orderNumbers.push(order);
  });
  (devices.productFamilies ?? []).forEach((family, i) => {
    if (registry.addFamily(organization, family, name, locIn(d, ['spec', 'devices', 'productFamilies', i]), sink)) ownership.productFamilies.push(family);
  });
  return ownership;
}
