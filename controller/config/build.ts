import { isAbsolute, resolve } from 'node:path';
import type { ProblemSink, SourceLoc } from './problems.js';
import type { ParsedDoc } from './documents.js';
import type { Kind } from './schemas.js';
import { DEP_DEVICE_FAMILIES, type DepDeviceFamily, type EnrollmentProfile, type Match, type MdmServer, type ProfileBody, type SecretRef } from './types.js';
import { findNode, nodeOffset } from './yaml-nodes.js';
import { didYouMean } from './suggest.js';
import { isInside } from './files.js';
import { checkProfileRules } from './apple-rules.js';
import type { SkipKeyCatalogue } from './skip-keys.js';
import { resolveProfileEnrollment } from './enrollment.js';
import { depUrlProblem, secretRefProblem, type TrustPolicy } from './trust.js';

/** Location of a path inside a parsed document (the deepest existing node). */
export function locIn(d: ParsedDoc, path: readonly (string | number)[]): SourceLoc {
  const f = findNode(d.doc, path);
  return d.source.loc(nodeOffset(f.node ?? f.deepest));
}

/** Documents indexed by kind and name; duplicates are reported once here. */
export type DocIndex = Record<Kind, Map<string, ParsedDoc>>;

/** Indexes documents by kind and name, reporting names used twice within a kind. */
export function indexByName(docs: readonly ParsedDoc[], sink: ProblemSink): DocIndex {
  const index: DocIndex = { MdmServer: new Map(), EnrollmentProfile: new Map(), Assignment: new Map(), Enrollment: new Map(), Credential: new Map(), Organization: new Map() };
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
  /** The secrets directory (real path), when the caller named it: references into it are fine. */
  secretsDir?: string;
  /** The most bytes the next serial file may hold (input limits "serialFileBytes" and "totalBytes"). */
  serialFileBytes?: () => number;
  /** The controller's public base URL (no trailing slash) that `url: { enrollment }` expands against. */
  publicUrl?: string;
  /** How an unexpandable `url: { enrollment }` is reported: an error (default) or, for validate, a warning. */
  unresolvedUrl?: 'warning' | 'error';
  /** Which files, environment variables and DEP hosts references may name (trust.ts); the defaults when absent. */
  trust?: TrustPolicy;
}

/**
 * Checks a document's secret references: never a file inside the config repository (unless it is the secrets
 * directory), and within the operator's trust policy (trust.ts). `path` locates each reference in the YAML.
 */
export function checkSecretRefs(d: ParsedDoc, refs: readonly { path: (string | number)[]; label: string; ref: SecretRef }[], ctx: BuildContext, sink: ProblemSink): void {
  for (const { path, label, ref } of refs) {
    const inSecrets = ctx.secretsDir !== undefined && 'file' in ref && isInside(ctx.secretsDir, resolve(ref.file));
    if ('file' in ref && isAbsolute(ref.file) && isInside(ctx.realRoot, resolve(ref.file)) && !inSecrets) {
      sink.error('secret-ref', locIn(d, [...path, 'file']), `${label} points inside the config repository; keep secrets in the secrets directory instead`);
      continue;
    }
    const problem = ctx.trust ? secretRefProblem(ref, ctx.trust) : undefined;
    if (problem !== undefined) sink.error('secret-ref', locIn(d, [...path, 'file' in ref ? 'file' : 'env']), `${label}: ${problem}`);
  }
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

  checkSecretRefs(d, (['token', 'privateKey'] as const).map((key) => ({ path: ['spec', key], label: key, ref: server[key] })), ctx, sink);
  const hostProblem = server.depUrl !== undefined && ctx.trust ? depUrlProblem(server.depUrl, ctx.trust) : undefined;
  if (hostProblem !== undefined) sink.error('dep-url-host', locIn(d, ['spec', 'depUrl']), hostProblem);
  else if (server.depUrl?.startsWith('http://')) {
    const host = new URL(server.depUrl).hostname;
    if (!['localhost', '127.0.0.1', '[::1]', '::1'].includes(host)) {
      sink.warning('insecure-dep-url', locIn(d, ['spec', 'depUrl']), 'depUrl uses plain http to a non-local host; only a local simulator should be reached without TLS');
    }
  }
  const families = spec['defaultProfiles'] as MdmServer['defaultProfiles'];
  if (families) server.defaultProfiles = { ...families };
  checkDefaults(d, server, index, sink);
  return server;
}

/** The profile body of a schema-valid EnrollmentProfile document. */
function profileBody(d: ParsedDoc | undefined): ProfileBody | undefined {
  return d?.valid ? (d.value['spec'] as { profile: ProfileBody }).profile : undefined;
}

/**
 * Checks the default profiles of a server: each resolves to a profile defined on this server; a family entry
 * names a profile that family can serve; the catch-all warns when it cannot serve the families that fall to
 * it; and defaults without `unassignedDevices: default` (or the reverse) are reported.
 *
 * What Apple's keys make knowable: `is_multi_user` configures Shared iPad, which only iPads honour (Apple's
 * Profile page: devices that do not meet Shared iPad's requirements ignore it). The other family-specific
 * keys (`auto_advance_setup`, `language`, `region` on tvOS and macOS; `is_return_to_service` and
 * `do_not_use_profile_from_backup` on iOS and visionOS) are ignored elsewhere without harm, so they
 * have no rule.
 */
function checkDefaults(d: ParsedDoc, server: MdmServer, index: DocIndex, sink: ProblemSink): void {
  const entries: { path: (string | number)[]; label: string; profile: string; family?: DepDeviceFamily }[] = [];
  if (server.defaultProfile !== undefined) entries.push({ path: ['spec', 'defaultProfile'], label: 'defaultProfile', profile: server.defaultProfile });
  for (const family of DEP_DEVICE_FAMILIES) {
    const profile = server.defaultProfiles?.[family];
    if (profile !== undefined) entries.push({ path: ['spec', 'defaultProfiles', family], label: `defaultProfiles.${family}`, profile, family });
  }
  for (const e of entries) {
    const target = resolveRef(index, 'EnrollmentProfile', e.profile, d, e.path, sink);
    const servers = target?.valid ? ((target.value['spec'] as { servers: string[] }).servers ?? []) : undefined;
    if (servers && !servers.includes(server.name)) {
      sink.error('profile-not-on-server', locIn(d, e.path), `${e.label} "${e.profile}" is not defined on server "${server.name}"; add "${server.name}" to its spec.servers`);
    }
    if (server.unassignedDevices !== 'default') {
      sink.warning('default-profile-unused', locIn(d, e.path), `${e.label} has no effect while unassignedDevices is "${server.unassignedDevices}"; set unassignedDevices: default to use it`);
    }
    if (profileBody(target)?.is_multi_user !== true) continue;
    if (e.family !== undefined && e.family !== 'iPad') {
      sink.error('profile-family', locIn(d, e.path), `${e.label}: profile "${e.profile}" sets is_multi_user: true (Shared iPad), which only iPads honour; give ${e.family} devices a profile without is_multi_user`);
    } else if (e.family === undefined && server.unassignedDevices === 'default') {
      // Whether such devices exist on the server is unknown offline: maybe it holds only iPads.
      const others = DEP_DEVICE_FAMILIES.filter((f) => f !== 'iPad' && server.defaultProfiles?.[f] === undefined);
      if (others.length > 0) {
        sink.warning('profile-family', locIn(d, e.path), `defaultProfile "${e.profile}" sets is_multi_user: true (Shared iPad), which only iPads honour, but it is also the default for unassigned ${others.join(', ')} devices; name their profiles in defaultProfiles`);
      }
    }
  }
  if (server.unassignedDevices === 'default' && entries.length === 0) {
    sink.error('default-profile-missing', locIn(d, ['spec', 'unassignedDevices']), 'unassignedDevices: default needs a defaultProfile or defaultProfiles');
  }
}

/** Builds an EnrollmentProfile from a schema-valid document and checks Apple's rules and its servers. */
export function buildProfile(d: ParsedDoc, index: DocIndex, ctx: BuildContext, sink: ProblemSink): EnrollmentProfile {
  const spec = d.value['spec'] as { servers: string[]; profile: ProfileBody };
  spec.servers.forEach((s, i) => resolveRef(index, 'MdmServer', s, d, ['spec', 'servers', i], sink));
  // `url: { enrollment }` becomes the string Apple gets before any rule or hash sees it (issue 14).
  const { body, enroll } = resolveProfileEnrollment(d, index, ctx, sink);
  checkProfileRules(
    body,
    (key, i) => locIn(d, i === undefined ? ['spec', 'profile', key] : ['spec', 'profile', key, i]),
    sink,
    ctx.skipKeys,
    ctx.now,
  );
  return { name: d.name ?? '', servers: [...spec.servers], profile: body, source: locIn(d, ['metadata', 'name']), ...(enroll ? { enroll } : {}) };
}

/** Canonical JSON of a match rule, for spotting identical rules. */
export function matchKey(match: Match): string {
  const keys = Object.keys(match).sort() as (keyof Match)[];
  return JSON.stringify(keys.map((k) => [k, [...(match[k] ?? [])].sort()]));
}
