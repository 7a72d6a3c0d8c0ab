import { dirname, relative, resolve } from 'node:path';
import { realpath } from 'node:fs/promises';
import { isScalar, isSeq } from 'yaml';
import type { ProblemSink } from './problems.js';
import type { ParsedDoc } from './documents.js';
import type { Assignment, Match } from './types.js';
import { type DocIndex, locIn, matchKey, resolveRef } from './build.js';
import { findNode, nodeOffset } from './yaml-nodes.js';
import { isInside, posix } from './files.js';
import { readTextFile, type SourceFile } from './source.js';
import { normaliseSerial, parseSerialFile, serialProblem } from './serials.js';

/** The config directory as given and as a real path (symbolic links resolved). */
export interface ConfigPaths {
  root: string;
  realRoot: string;
  /** The most bytes the next serial file may hold (input limits); MAX_SERIAL_FILE_BYTES when absent. */
  serialFileBytes?: () => number;
}

/** Largest serial file read (a CSV of a million serials with a few columns fits well below). */
export const MAX_SERIAL_FILE_BYTES = 64 * 1024 * 1024;

/** Where a serial was first listed, for duplicate reports. */
interface SerialOrigin {
  assignment: string;
  source: SourceFile;
  offset: number;
}

/**
 * Tracks every listed serial across all assignments to report serials listed twice. Origins are kept in
 * parallel arrays rather than one object per serial: a million serials should not mean a million objects.
 */
export class SerialRegistry {
  private readonly seen = new Map<string, number>();
  private readonly assignments: string[] = [];
  private readonly sources: SourceFile[] = [];
  private readonly originAssignment: number[] = [];
  private readonly originSource: number[] = [];
  private readonly originOffset: number[] = [];

  /** Registers a serial; reports it when already listed. Returns false for a duplicate. */
  add(serial: string, origin: SerialOrigin, sink: ProblemSink): boolean {
    const firstIndex = this.seen.get(serial);
    if (firstIndex === undefined) {
      this.seen.set(serial, this.originOffset.length);
      this.originAssignment.push(this.intern(this.assignments, origin.assignment));
      this.originSource.push(this.intern(this.sources, origin.source));
      this.originOffset.push(origin.offset);
      return true;
    }
    const first: SerialOrigin = {
      assignment: this.assignments[this.originAssignment[firstIndex] ?? 0] ?? '',
      source: this.sources[this.originSource[firstIndex] ?? 0] as SourceFile,
      offset: this.originOffset[firstIndex] ?? 0,
    };
    const firstLoc = first.source.loc(first.offset);
    const here = origin.source.loc(origin.offset);
    if (first.assignment === origin.assignment) {
      sink.warning('duplicate-serial', here, `serial ${serial} is listed twice in assignment "${origin.assignment}" (first at ${firstLoc.file}:${firstLoc.line}:${firstLoc.column})`, [
        { ...firstLoc, message: 'first listing' },
      ]);
    } else {
      sink.error('duplicate-serial', here, `serial ${serial} is listed in assignment "${origin.assignment}" and in assignment "${first.assignment}" at ${firstLoc.file}:${firstLoc.line}:${firstLoc.column}; a device can have only one profile`, [
        { ...firstLoc, message: `listed in assignment "${first.assignment}"` },
      ]);
    }
    return false;
  }

  /** Index of a value in a small list, adding it when new (the last one is the usual hit). */
  private intern<T>(list: T[], value: T): number {
    if (list[list.length - 1] === value) return list.length - 1;
    const i = list.indexOf(value);
    if (i !== -1) return i;
    list.push(value);
    return list.length - 1;
  }

  /** Number of distinct serials registered. */
  get size(): number {
    return this.seen.size;
  }
}

/** Builds an Assignment from a schema-valid document: resolves its profile and servers, reads its serials. */
export async function buildAssignment(
  d: ParsedDoc,
  index: DocIndex,
  paths: ConfigPaths,
  serials: SerialRegistry,
  sink: ProblemSink,
): Promise<Assignment> {
  const spec = d.value['spec'] as { profile: string; servers?: string[]; serials?: string[]; serialFiles?: string[]; match?: Match; priority?: number };
  const name = d.name ?? '';
  const profile = resolveRef(index, 'EnrollmentProfile', spec.profile, d, ['spec', 'profile'], sink);
  const profileServers = profile?.valid ? (profile.value['spec'] as { servers: string[] }).servers : undefined;
  let servers = profileServers ?? [];
  if (spec.servers) {
    spec.servers.forEach((s, i) => {
      if (!resolveRef(index, 'MdmServer', s, d, ['spec', 'servers', i], sink)) return;
      if (profileServers && !profileServers.includes(s)) {
        sink.error('profile-not-on-server', locIn(d, ['spec', 'servers', i]), `profile "${spec.profile}" is not defined on server "${s}"; add "${s}" to the profile's spec.servers`);
      }
    });
    servers = spec.servers;
  }

  const out: string[] = [];
  const accept = (raw: string, source: SourceFile, offset: number): void => {
    const serial = normaliseSerial(raw);
    if (serial === undefined) {
      sink.error('serial-format', source.loc(offset), serialProblem(raw));
      return;
    }
    if (serials.add(serial, { assignment: name, source, offset }, sink)) out.push(serial);
  };

  if (spec.serials) {
    const seq = findNode(d.doc, ['spec', 'serials']).node;
    const items = isSeq(seq) ? seq.items : [];
    const offsets = d.serialOffsets;
    spec.serials.forEach((raw, i) => {
      const item = items[i];
      accept(String(raw), d.source, offsets ? (offsets[i] ?? 0) : nodeOffset(isScalar(item) ? item : undefined));
    });
  }
  for (const [i, file] of (spec.serialFiles ?? []).entries()) {
    const source = await openSerialFile(file, d, paths, ['spec', 'serialFiles', i], sink);
    if (!source) continue;
    const content = parseSerialFile(source.text);
    if (content.problem) sink.error('serial-file', source.loc(content.problem.offset), content.problem.message);
    if (content.entries.length === 0 && !content.problem) {
      sink.warning('serial-file', source.loc(0), 'serial file lists no serial numbers');
    }
    for (const e of content.entries) accept(e.raw, source, e.offset);
  }

  const assignment: Assignment = { name, profile: spec.profile, servers: [...servers], serials: out, priority: spec.priority ?? 0, source: locIn(d, ['metadata', 'name']) };
  if (spec.match) assignment.match = spec.match;
  return assignment;
}

/**
 * Opens a serial file named relative to the YAML file, refusing paths that leave the config directory. Shared
 * by Assignment.serialFiles and MdmServer.devices.serialFiles (ownership-build.ts).
 */
export async function openSerialFile(file: string, d: ParsedDoc, paths: ConfigPaths, path: (string | number)[], sink: ProblemSink): Promise<SourceFile | undefined> {
  const loc = locIn(d, path);
  const abs = resolve(dirname(d.source.absPath), file);
  if (file.startsWith('/') || /^[A-Za-z]:[\\/]/.test(file) || !isInside(paths.root, abs)) {
    sink.error('path-escape', loc, `serialFiles entry "${file}" must be a relative path inside the config directory`);
    return undefined;
  }
  const real = await realpath(abs).catch(() => undefined);
  if (real === undefined) {
    sink.error('serial-file', loc, `serial file "${file}" does not exist`);
    return undefined;
  }
  if (!isInside(paths.realRoot, real)) {
    sink.error('path-escape', loc, `serial file "${file}" is a symbolic link that leads outside the config directory`);
    return undefined;
  }
  const rel = posix(relative(paths.root, abs));
  const read = await readTextFile(real, rel, paths.serialFileBytes?.() ?? MAX_SERIAL_FILE_BYTES);
  if ('code' in read) {
    sink.error(read.code, { file: rel, line: read.line, column: read.column }, read.message);
    return undefined;
  }
  return read;
}

/** Warns about match rules that are identical and of equal priority on a shared server. */
export function checkMatchOverlap(assignments: readonly { a: Assignment; d: ParsedDoc }[], sink: ProblemSink): void {
  const seen = new Map<string, { a: Assignment; d: ParsedDoc }>();
  for (const entry of assignments) {
    const { a, d } = entry;
    if (!a.match) continue;
    for (const server of a.servers) {
      const key = `${server}\u0000${a.priority}\u0000${matchKey(a.match)}`;
      const first = seen.get(key);
      if (first && first.a.name !== a.name) {
        const firstLoc = locIn(first.d, ['spec', 'match']);
        sink.warning('match-overlap', locIn(d, ['spec', 'match']), `assignments "${first.a.name}" and "${a.name}" have the same match rule and priority on server "${server}"; devices matching both get a plan error — change one priority`, [
          { ...firstLoc, message: `match rule of "${first.a.name}"` },
        ]);
      } else if (!first) seen.set(key, entry);
    }
  }
}
