import { X509Certificate } from 'node:crypto';
import type { ProblemSink, SourceLoc } from './problems.js';
import type { ProfileBody } from './types.js';

/** Resolves the location of a key of the profile body (`spec.profile.<key>[index]`). */
export type ProfileLocator = (key: string, index?: number) => SourceLoc;

const languages = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });
const regions = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

/** Region codes ICU knows that are not ISO 3166-1 alpha-2 country codes, with the code to use instead. */
const NOT_ISO_REGIONS: Record<string, string | undefined> = { ZZ: undefined, EU: undefined, EZ: undefined, UN: undefined, QO: undefined, UK: 'GB' };

/**
 * Apple's own rules for a DEP profile that a JSON Schema cannot express (dep-protocol.md §3 "POST /profile"):
 * FLAGS_INVALID, locale codes, certificates, whitespace-only strings, deprecated SkipKeys.
 */
export function checkProfileRules(
  profile: ProfileBody,
  at: ProfileLocator,
  sink: ProblemSink,
  deprecatedSkipKeys: readonly string[],
  now: Date,
): void {
  if (profile.is_mdm_removable === false && profile.is_supervised !== true) {
    sink.error(
      'flags-invalid',
      at('is_mdm_removable'),
      'is_mdm_removable: false requires is_supervised: true (Apple rejects this profile with FLAGS_INVALID)',
    );
  }
  if (profile.await_device_configured === true && profile.is_supervised !== true) {
    sink.warning(
      'await-unsupervised',
      at('await_device_configured'),
      'await_device_configured is ignored on iOS unless is_supervised is true',
    );
  }
  for (const [key, value] of Object.entries(profile)) {
    if (typeof value === 'string' && value.trim() === '' && value !== '') {
      sink.error('empty-string', at(key), `${key}: must not be blank (Apple rejects empty strings; leave the key out instead)`);
    }
  }
  if (profile.language !== undefined) checkLanguage(profile.language, at('language'), sink);
  if (profile.region !== undefined) checkRegion(profile.region, at('region'), sink);
  for (const key of ['anchor_certs', 'supervising_host_certs'] as const) {
    (profile[key] ?? []).forEach((b64, i) => checkCertificate(key, b64, at(key, i), sink, now));
  }
  (profile.skip_setup_items ?? []).forEach((item, i) => {
    if (deprecatedSkipKeys.includes(item)) {
      sink.warning('deprecated-skip-key', at('skip_setup_items', i), `skip key "${item}" is deprecated by Apple; it still works but may be removed in a future release`);
    }
  });
}

function checkLanguage(code: string, loc: SourceLoc, sink: ProblemSink): void {
  if (!/^[a-z]{2,3}$/.test(code)) return; // the schema already reported it
  if (languages.of(code) === undefined) {
    sink.error('language-code', loc, `language: "${code}" is not an ISO 639 language code`);
    return;
  }
  const canonical = Intl.getCanonicalLocales(code)[0];
  if (code.length === 3 && canonical !== undefined && canonical.length === 2) {
    sink.error('language-code', loc, `language: use the ISO 639-1 code "${canonical}" instead of "${code}" (Apple wants 639-2 only when no 639-1 code exists)`);
  }
}

function checkRegion(code: string, loc: SourceLoc, sink: ProblemSink): void {
  if (!/^[A-Z]{2}$/.test(code)) return;
  if (code in NOT_ISO_REGIONS || regions.of(code) === undefined) {
    const instead = NOT_ISO_REGIONS[code];
    sink.error('region-code', loc, `region: "${code}" is not an ISO 3166-1 alpha-2 country code${instead ? ` (did you mean "${instead}"?)` : ''}`);
  }
}

function checkCertificate(key: string, b64: string, loc: SourceLoc, sink: ProblemSink, now: Date): void {
  const compact = b64.replace(/\s+/g, '');
  if (compact.includes('-----BEGIN')) {
    sink.error('certificate', loc, `${key}: give the certificate as base64 DER, without the PEM "-----BEGIN CERTIFICATE-----" lines`);
    return;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    sink.error('certificate', loc, `${key}: not valid base64`);
    return;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(compact, 'base64'));
  } catch {
    sink.error('certificate', loc, `${key}: base64 does not hold a DER X.509 certificate`);
    return;
  }
  const validTo = new Date(cert.validTo);
  if (validTo.getTime() < now.getTime()) {
    sink.warning('certificate-expired', loc, `${key}: certificate "${cert.subject.replace(/\n/g, ', ')}" expired on ${validTo.toISOString().slice(0, 10)}`);
  }
}
