/**
 * The enrollment side of a config (issue 14): `kind: Enrollment` documents and, on each EnrollmentProfile,
 * `spec.enrollment`, `spec.minimumOS`, `spec.olderThanMinimum` and a `url` written `{ enrollment: NAME }`,
 * which expands to `<public URL>/enroll/<profile name>`. The public URL is a controller setting
 * (`--public-url`, DEPCTL_PUBLIC_URL), never read from the repository: a pull request must not pick hosts.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ParsedDoc } from './documents.js';
import type { ProblemSink } from './problems.js';
import { checkSecretRefs, locIn, resolveRef, type BuildContext, type DocIndex } from './build.js';
import { isInside } from './files.js';
import { ENROLL_PLATFORMS, type Enrollment, type MinimumVersion, type ProfileBody, type ProfileEnrollment, type SecretRef } from './types.js';

/** The path depctl serves a profile's enrollment at, below the public URL. */
export function enrollPath(profileName: string): string {
  return `/enroll/${encodeURIComponent(profileName)}`;
}

/** What `profile.url` holds when `{ enrollment: NAME }` could not be expanded (no public URL). */
export const UNRESOLVED_URL_PREFIX = 'https://depctl-public-url.invalid';

/** A public base URL without its trailing slash, or undefined when it is not an absolute http(s) URL. */
export function normalisePublicUrl(raw: string): string | undefined {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    if (u.search || u.hash || u.username || u.password) return undefined;
    return u.toString().replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}

/** Builds an Enrollment from a schema-valid document; checks that anchor files are readable certificates. */
export function buildEnrollment(d: ParsedDoc, ctx: BuildContext, sink: ProblemSink): Enrollment {
  const spec = d.value['spec'] as Record<string, unknown>;
  const mdm = spec['mdm'] as Record<string, unknown>;
  const e: Enrollment = {
    name: d.name ?? '',
    mdm: {
      serverUrl: mdm['serverUrl'] as string,
      topic: mdm['topic'] as string,
      accessRights: (mdm['accessRights'] as number | undefined) ?? 8191,
      signMessage: (mdm['signMessage'] as boolean | undefined) ?? false,
      checkOutWhenRemoved: (mdm['checkOutWhenRemoved'] as boolean | undefined) ?? true,
      serverCapabilities: [...((mdm['serverCapabilities'] as string[] | undefined) ?? [])],
    },
    anchorCertificates: [],
    payload: { ...((spec['payload'] as Enrollment['payload'] | undefined) ?? {}) },
    unknownSerials: (spec['unknownSerials'] as Enrollment['unknownSerials'] | undefined) ?? 'refuse',
    source: locIn(d, ['metadata', 'name']),
  };
  if (typeof mdm['checkInUrl'] === 'string') e.mdm.checkInUrl = mdm['checkInUrl'];
  const scep = spec['scep'] as Record<string, unknown> | undefined;
  if (scep) {
    e.scep = { url: scep['url'] as string, keySize: (scep['keySize'] as number | undefined) ?? 2048, keyUsage: (scep['keyUsage'] as number | undefined) ?? 5 };
    if (scep['challenge']) e.scep.challenge = scep['challenge'] as SecretRef;
    if (typeof scep['name'] === 'string') e.scep.name = scep['name'];
    if (Array.isArray(scep['subject'])) e.scep.subject = scep['subject'] as Record<string, string>[];
    if (typeof scep['caFingerprint'] === 'string') e.scep.caFingerprint = scep['caFingerprint'];
  }
  const acme = spec['acme'] as Record<string, unknown> | undefined;
  if (acme) {
    e.acme = {
      directoryUrl: acme['directoryUrl'] as string,
      clientIdentifier: acme['clientIdentifier'] as SecretRef,
      keyType: (acme['keyType'] as 'RSA' | 'ECSECPrimeRandom' | undefined) ?? 'ECSECPrimeRandom',
      keySize: (acme['keySize'] as number | undefined) ?? 384,
      hardwareBound: (acme['hardwareBound'] as boolean | undefined) ?? true,
      attest: (acme['attest'] as boolean | undefined) ?? true,
    };
    if (Array.isArray(acme['subject'])) e.acme.subject = acme['subject'] as Record<string, string>[];
  }
  if (e.signing === undefined && spec['signing']) e.signing = spec['signing'] as Enrollment['signing'];
  const refs = (['signing.certificate', 'signing.key', 'scep.challenge', 'acme.clientIdentifier'] as const).flatMap((key) => {
    const [a, b] = key.split('.') as [string, string];
    const ref = (spec[a] as Record<string, SecretRef | undefined> | undefined)?.[b];
    return ref ? [{ path: ['spec', a, b], label: key, ref }] : [];
  });
  checkSecretRefs(d, refs, ctx, sink);
  const anchors = (spec['anchorCertificates'] as { file: string }[] | undefined) ?? [];
  anchors.forEach((a, i) => {
    const path = resolve(ctx.root, a.file);
    const at = locIn(d, ['spec', 'anchorCertificates', i, 'file']);
    if (!isInside(ctx.root, path)) {
      sink.error('anchor-certificate', at, 'anchor certificate files must lie inside the config repository (they are public certificates)');
      return;
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      sink.error('anchor-certificate', at, `cannot read ${a.file} (${code === 'ENOENT' ? 'not found' : (code ?? 'error')})`);
      return;
    }
    if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(text)) {
      sink.error('anchor-certificate', at, `${a.file} holds no PEM certificate`);
      return;
    }
    if (/PRIVATE KEY-----/.test(text)) {
      sink.error('anchor-certificate', at, `${a.file} holds a private key; anchor files must hold certificates only`);
      return;
    }
    e.anchorCertificates.push(path);
  });
  return e;
}

/**
 * Resolves the enrollment side of a profile document: the Enrollment it names (in `spec.enrollment` or
 * `url: { enrollment }`, which must agree), its minimum OS and the expanded `url`. Returns the profile body
 * with `url` as a string, and the ProfileEnrollment when depctl serves this profile.
 */
export function resolveProfileEnrollment(d: ParsedDoc, index: DocIndex, ctx: BuildContext, sink: ProblemSink): { body: ProfileBody; enroll?: ProfileEnrollment } {
  const spec = d.value['spec'] as { profile: ProfileBody & { url: unknown }; enrollment?: string; minimumOS?: Record<string, string | MinimumVersion>; olderThanMinimum?: 'refuse' | 'enroll' };
  const name = d.name ?? '';
  const rawUrl = spec.profile.url;
  const fromUrl = typeof rawUrl === 'object' && rawUrl !== null ? (rawUrl as { enrollment: string }).enrollment : undefined;
  const named = spec.enrollment ?? fromUrl;
  if (spec.enrollment !== undefined && fromUrl !== undefined && spec.enrollment !== fromUrl) {
    sink.error('enrollment-mismatch', locIn(d, ['spec', 'profile', 'url', 'enrollment']), `url names Enrollment "${fromUrl}" but spec.enrollment is "${spec.enrollment}"; name one`);
  }
  let url: string;
  let unresolved = false;
  if (fromUrl !== undefined) {
    if (ctx.publicUrl !== undefined) {
      url = `${ctx.publicUrl}${enrollPath(name)}`;
    } else {
      url = `${UNRESOLVED_URL_PREFIX}${enrollPath(name)}`;
      unresolved = true;
      const message = `url { enrollment: ${fromUrl} } expands to <public URL>${enrollPath(name)}, and no public URL is set (--public-url or DEPCTL_PUBLIC_URL); Apple cannot be given this profile until it is`;
      if (ctx.unresolvedUrl === 'warning') sink.warning('enrollment-url-unresolved', locIn(d, ['spec', 'profile', 'url']), message);
      else sink.error('enrollment-url-unresolved', locIn(d, ['spec', 'profile', 'url']), message);
    }
  } else {
    url = rawUrl as string;
    // A URL that points at depctl's own endpoint without an Enrollment would be answered 404 to every device.
    if (named === undefined && ctx.publicUrl !== undefined && url.startsWith(`${ctx.publicUrl}/enroll/`)) {
      sink.error('enrollment-missing', locIn(d, ['spec', 'profile', 'url']), `url points at depctl's enrollment endpoint but the profile names no Enrollment; add spec.enrollment or write url: { enrollment: NAME }`);
    }
  }
  const body: ProfileBody = { ...spec.profile, url };
  if (named === undefined) {
    if (spec.minimumOS !== undefined) sink.error('enrollment-missing', locIn(d, ['spec', 'minimumOS']), 'minimumOS is enforced by the enrollment depctl serves; name an Enrollment (spec.enrollment) for this profile');
    return { body };
  }
  const path = spec.enrollment !== undefined ? ['spec', 'enrollment'] : ['spec', 'profile', 'url', 'enrollment'];
  resolveRef(index, 'Enrollment', named, d, path, sink);
  const minimumOS: ProfileEnrollment['minimumOS'] = {};
  for (const p of ENROLL_PLATFORMS) {
    const v = spec.minimumOS?.[p];
    if (v !== undefined) minimumOS[p] = typeof v === 'string' ? { version: v } : { ...v };
  }
  return { body, enroll: { enrollment: named, minimumOS, olderThanMinimum: spec.olderThanMinimum ?? 'refuse', urlUnresolved: unresolved } };
}
