import { X509Certificate } from 'node:crypto';
import type { ProblemSink, SourceLoc } from './problems.js';
import type { ProfileBody } from './types.js';
import { checkSkipKeys, type SkipKeyCatalogue } from './skip-keys.js';

/** Resolves the location of a key of the profile body (`spec.profile.<key>[index]`). */
export type ProfileLocator = (key: string, index?: number) => SourceLoc;

// Built on first use: constructing them loads ICU's locale data (~30 ms), which a config without `language`
// or `region` never needs (start-up budget of `depctl validate`, README "Performance").
let languageNames: Intl.DisplayNames | undefined;
let regionNames: Intl.DisplayNames | undefined;
const languages = { of: (code: string): string | undefined => (languageNames ??= new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' })).of(code) };
const regions = { of: (code: string): string | undefined => (regionNames ??= new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' })).of(code) };

/** Region codes ICU knows that are not ISO 3166-1 alpha-2 country codes, with the code to use instead. */
const NOT_ISO_REGIONS: Record<string, string | undefined> = { ZZ: undefined, EU: undefined, EZ: undefined, UN: undefined, QO: undefined, UK: 'GB' };

/**
 * Apple's rules for a DEP profile that a JSON Schema cannot express (dep-protocol.md §3 "POST /profile").
 * Only what Apple documents as a define-time refusal is an error: FLAGS_INVALID and LOCALE_INVALID (a
 * language or region that is not an ISO code). Everything else Apple may well accept, so it warns: blank
 * strings, non-https URLs, odd e-mail addresses, certificates, and every SkipKey finding (skip-keys.ts).
 */
export function checkProfileRules(
  profile: ProfileBody,
  at: ProfileLocator,
  sink: ProblemSink,
  skipKeys: SkipKeyCatalogue,
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
    // Apple's *_INVALID codes name empty strings (the schema refuses those); whitespace is not empty, so
    // whether Apple takes it is unknown.
    if (typeof value === 'string' && value.trim() === '' && value !== '') {
      sink.warning('empty-string', at(key), `${key}: is blank; Apple refuses empty strings and may refuse this one too (leave the key out instead)`);
    }
  }
  checkUrls(profile, at, sink);
  checkEmail(profile.support_email_address, at('support_email_address'), sink);
  if (profile.language !== undefined) checkLanguage(profile.language, at('language'), sink);
  if (profile.region !== undefined) checkRegion(profile.region, at('region'), sink);
  for (const key of ['anchor_certs', 'supervising_host_certs'] as const) {
    (profile[key] ?? []).forEach((b64, i) => checkCertificate(key, b64, at(key, i), sink, now));
  }
  checkSkipKeys(profile.skip_setup_items ?? [], (i) => at('skip_setup_items', i), skipKeys, sink);
}

/**
 * `url` is schema-checked against Apple's CONFIG_URL_* rules (present, at most 2000 characters, a URI);
 * `configuration_web_url` has no documented define-time code at all. Apple documents neither as https-only,
 * so plain http warns: devices load the web view over HTTPS (dep-protocol.md §6) and fetch their
 * enrollment profile from `url` during Setup Assistant.
 */
function checkUrls(profile: ProfileBody, at: ProfileLocator, sink: ProblemSink): void {
  for (const key of ['url', 'configuration_web_url'] as const) {
    const value = profile[key];
    if (typeof value !== 'string' || value.trim() === '') {
      if (value === '') sink.warning('empty-string', at(key), `${key}: is empty; leave the key out instead`);
      continue;
    }
    if (!isAbsoluteUrl(value)) {
      // For `url` the schema's "uri" format has already reported it as an error.
      if (key === 'configuration_web_url') sink.warning('https-required', at(key), `${key}: ${JSON.stringify(value)} is not an absolute URL`);
      continue;
    }
    if (!value.toLowerCase().startsWith('https://')) {
      sink.warning('https-required', at(key), `${key}: ${JSON.stringify(value)} is not an https:// URL; devices reach it during Setup Assistant and may refuse plain http`);
    }
  }
}

function isAbsoluteUrl(value: string): boolean {
  try {
    return new URL(value).protocol !== '';
  } catch {
    return false;
  }
}

/** Apple's SUPPORT_EMAIL_INVALID covers only empty and too long (the schema checks both); a shape check warns. */
function checkEmail(value: string | undefined, loc: SourceLoc, sink: ProblemSink): void {
  if (value === undefined || value.trim() === '') return;
  if (!/^[^\s@]+@[^\s@]+$/.test(value)) {
    sink.warning('email-format', loc, `support_email_address: ${JSON.stringify(value)} does not look like an e-mail address`);
  }
}

function checkLanguage(code: string, loc: SourceLoc, sink: ProblemSink): void {
  if (!/^[a-z]{2,3}$/.test(code)) return; // the schema already reported it
  if (languages.of(code) === undefined) {
    sink.error('language-code', loc, `language: "${code}" is not an ISO 639 language code`);
    return;
  }
  const canonical = Intl.getCanonicalLocales(code)[0];
  if (code.length === 3 && canonical !== undefined && canonical.length === 2) {
    // Apple's Profile page asks for 639-2 only when no 639-1 code exists; whether it refuses one is unknown.
    sink.warning('language-code', loc, `language: use the ISO 639-1 code "${canonical}" instead of "${code}" (Apple wants 639-2 only when no 639-1 code exists)`);
  }
}

function checkRegion(code: string, loc: SourceLoc, sink: ProblemSink): void {
  if (!/^[A-Z]{2}$/.test(code)) return;
  if (code in NOT_ISO_REGIONS || regions.of(code) === undefined) {
    const instead = NOT_ISO_REGIONS[code];
    sink.error('region-code', loc, `region: "${code}" is not an ISO 3166-1 alpha-2 country code${instead ? ` (did you mean "${instead}"?)` : ''}`);
  }
}

/**
 * Apple asks for base64 DER certificates; no define-time error code is documented for a bad one, so every
 * finding warns (a bad anchor still breaks enrollment, since devices pin the enrollment host to it).
 */
function checkCertificate(key: string, b64: string, loc: SourceLoc, sink: ProblemSink, now: Date): void {
  const compact = b64.replace(/\s+/g, '');
  if (compact.includes('-----BEGIN')) {
    sink.warning('certificate', loc, `${key}: give the certificate as base64 DER, without the PEM "-----BEGIN CERTIFICATE-----" lines`);
    return;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    sink.warning('certificate', loc, `${key}: not valid base64`);
    return;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(compact, 'base64'));
  } catch {
    sink.warning('certificate', loc, `${key}: base64 does not hold a DER X.509 certificate`);
    return;
  }
  const validTo = new Date(cert.validTo);
  if (validTo.getTime() < now.getTime()) {
    sink.warning('certificate-expired', loc, `${key}: certificate "${cert.subject.replace(/\n/g, ', ')}" expired on ${validTo.toISOString().slice(0, 10)}`);
  }
}
