import { isAbsolute, resolve } from 'node:path';
import type { ProblemSink, SourceLoc } from './problems.js';
import type { ParsedDoc } from './documents.js';
import type { Kind } from './schemas.js';
import type { EnrollmentProfile, Match, MdmServer, ProfileBody, SecretRef } from './types.js';
import { findNode, nodeOffset } from './yaml-nodes.js';
import { didYouMean } from './suggest.js';
import { isInside } from './files.js';
import { checkProfileRules } from './apple-rules.js';
import type { SkipKeyCatalogue } from './skip-keys.js';

/** Location of a path inside a parsed document (the deepest existing node). */
export function locIn(d: ParsedDoc, path: readonly (string | number)[]): SourceLoc {
  const f = findNode(d.doc, path);
  return d.source.loc(nodeOffset(f.node ?? f.deepest));
}

/** Documents indexed by kind and name; duplicates are reported once here. */
export type DocIndex = Record<Kind, Map<string, ParsedDoc>>;

/** Indexes documents by kind and name, reporting names used twice within a kind. */
export function indexByName(docs: readonly ParsedDoc[], sink: ProblemSink): DocIndex {
  const index: DocIndex = { MdmServer: new Map(), EnrollmentProfile: new Map(), Assignment: new Map() };
  for (const d of docs) {
    if (d.name === undefined) continue;
    const first = index[d.kind].get(d.name);
    if (first) {
      const firstLoc = locIn(first, ['metadata', 'name']);
      sink.error('duplicate-name', locIn(d, ['metadata', 'name']), `${d.kind} "${d.name}" is already defined at ${firstLoc.file}:${firstLoc.line}:${firstLoc.column}`, [
        { ...firstLoc, message: 'first definition' },
      ]);
      continue;
    }
    index[d.kind].set(d.name, d);
  }
  return index;
}

/** Reports a reference to a document of `kind` that does not exist. Returns the target when it exists. */
export function resolveRef(index: DocIndex, kind: Kind, name: string, from: ParsedDoc, path: (string | number)[], sink: ProblemSink): ParsedDoc | undefined {
  const target = index[kind].get(name);
  if (!target) {
    sink.error('unknown-reference', locIn(from, path), `unknown ${kind} "${name}"${didYouMean(name, index[kind].keys())}`);
  }
  return target;
}

/** Options that checks need from outside the config directory. */
export interface BuildContext {
  root: string;
  realRoot: string;
  now: Date;
  skipKeys: SkipKeyCatalogue;
}

/** Builds an MdmServer from a schema-valid document and checks its references and settings. */
export function buildServer(d: ParsedDoc, index: DocIndex, ctx: BuildContext, sink: ProblemSink): MdmServer {
  const spec = d.value['spec'] as Record<string, unknown>;
  const server: MdmServer = {
    name: d.name ?? '',
    token: spec['token'] as SecretRef,
    privateKey: spec['privateKey'] as SecretRef,
    unassignedDevices: (spec['unassignedDevices'] as MdmServer['unassignedDevices'] | undefined) ?? 'ignore',
    driftPolicy: (spec['driftPolicy'] as MdmServer['driftPolicy'] | undefined) ?? 'correct',
    source: locIn(d, ['metadata', 'name']),
  };
  if (typeof spec['depUrl'] === 'string') server.depUrl = spec['depUrl'];
  if (typeof spec['defaultProfile'] === 'string') server.defaultProfile = spec['defaultProfile'];
  if (typeof spec['maxChanges'] === 'number') server.maxChanges = spec['maxChanges'];

  for (const key of ['token', 'privateKey'] as const) {
    const ref = server[key];
    if ('file' in ref && isAbsolute(ref.file) && isInside(ctx.realRoot, resolve(ref.file))) {
      sink.error('secret-ref', locIn(d, ['spec', key, 'file']), `${key} points inside the config repository; keep secrets in the secrets directory instead`);
    }
  }
  if (server.depUrl?.startsWith('http://')) {
    const host = new URL(server.depUrl).hostname;
    if (!['localhost', '127.0.0.1', '[::1]', '::1'].includes(host)) {
      sink.warning('insecure-dep-url', locIn(d, ['spec', 'depUrl']), 'depUrl uses plain http to a non-local host; only a local simulator should be reached without TLS');
    }
  }
  if (server.defaultProfile !== undefined) {
    const target = resolveRef(index, 'EnrollmentProfile', server.defaultProfile, d, ['spec', 'defaultProfile'], sink);
    const servers = target?.valid ? ((target.value['spec'] as { servers: string[] }).servers ?? []) : undefined;
    if (servers && !servers.includes(server.name)) {
      sink.error('profile-not-on-server', locIn(d, ['spec', 'defaultProfile']), `defaultProfile "${server.defaultProfile}" is not defined on server "${server.name}"; add "${server.name}" to its spec.servers`);
    }
    if (server.unassignedDevices !== 'default') {
      sink.warning('default-profile-unused', locIn(d, ['spec', 'defaultProfile']), `defaultProfile has no effect while unassignedDevices is "${server.unassignedDevices}"; set unassignedDevices: default to use it`);
    }
  } else if (server.unassignedDevices === 'default') {
    sink.error('default-profile-missing', locIn(d, ['spec', 'unassignedDevices']), 'unassignedDevices: default needs a defaultProfile');
  }
  return server;
}

/** Builds an EnrollmentProfile from a schema-valid document and checks Apple's rules and its servers. */
export function buildProfile(d: ParsedDoc, index: DocIndex, ctx: BuildContext, sink: ProblemSink): EnrollmentProfile {
  const spec = d.value['spec'] as { servers: string[]; profile: ProfileBody };
  spec.servers.forEach((s, i) => resolveRef(index, 'MdmServer', s, d, ['spec', 'servers', i], sink));
  checkProfileRules(
    spec.profile,
    (key, i) => locIn(d, i === undefined ? ['spec', 'profile', key] : ['spec', 'profile', key, i]),
    sink,
    ctx.skipKeys,
    ctx.now,
  );
  return { name: d.name ?? '', servers: [...spec.servers], profile: spec.profile, source: locIn(d, ['metadata', 'name']) };
}

/** Canonical JSON of a match rule, for spotting identical rules. */
export function matchKey(match: Match): string {
  const keys = Object.keys(match).sort() as (keyof Match)[];
  return JSON.stringify(keys.map((k) => [k, [...(match[k] ?? [])].sort()]));
}
