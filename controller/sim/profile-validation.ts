/**
 * Validation of `POST /profile` bodies with Apple's codes and limits (dep-protocol.md §3 "POST
 * /profile"), and nothing else: a missing name or URL is `*_REQUIRED`; an empty or too long
 * `profile_name`, `url`, `department`, `org_magic`, `support_phone_number` or
 * `support_email_address` is `*_INVALID` (Apple's descriptions of those codes say "either empty or has
 * exceeded the maximum allowed length", and for `url` also RFC 2396 syntax; petarov/apple-mdm-clients
 * `messages_en.properties` copies them); `is_mdm_removable: false` needs `is_supervised: true`
 * (FLAGS_INVALID); a language or region that is no ISO code is LOCALE_INVALID. Wrong JSON types are
 * MALFORMED_REQUEST_BODY. Where Apple documents no refusal (blank strings, an e-mail address's shape, the
 * URL scheme, `configuration_web_url`, certificates, SkipKeys), the simulator accepts.
 */
import type { Profile } from '../dep/types.js';

/** Either the normalised profile (with defaults) and the serials to assign, or an error code. */
export type ProfileValidation = { ok: true; profile: Omit<Profile, 'devices'>; devices: string[] } | { ok: false; code: string };

const BOOLEANS = ['allow_pairing', 'is_supervised', 'is_multi_user', 'is_mandatory', 'await_device_configured', 'is_mdm_removable', 'auto_advance_setup', 'do_not_use_profile_from_backup', 'is_return_to_service'] as const;
const STRING_ARRAYS = ['anchor_certs', 'supervising_host_certs', 'skip_setup_items'] as const;

/**
 * Defaults Apple fills in and returns from GET /profile (the real 2018 fixture shows every one of
 * these even when a client left them out).
 */
const DEFAULTS = {
  allow_pairing: true,
  is_supervised: false,
  is_mandatory: false,
  is_mdm_removable: true,
  await_device_configured: false,
  is_multi_user: false,
  auto_advance_setup: false,
} as const;

/** Optional strings with their maximum length and the code Apple answers when empty or too long. */
const LIMITED_STRINGS: readonly (readonly [keyof Profile, number, string])[] = [
  ['department', 125, 'DEPARTMENT_INVALID'],
  ['org_magic', 256, 'MAGIC_INVALID'],
  ['support_phone_number', 50, 'SUPPORT_PHONE_INVALID'],
  ['support_email_address', 250, 'SUPPORT_EMAIL_INVALID'],
];

function charLength(s: string): number {
  return [...s].length;
}

/**
 * Apple's CONFIG_URL_INVALID: empty, over 2000 URL-encoded characters, or not RFC 2396/2732 syntax
 * (checked here as "parses as an absolute URL"). Apple names no scheme, so none is required.
 */
function validUrl(v: unknown): boolean {
  return typeof v === 'string' && v !== '' && encodeURI(v).length <= 2000 && URL.canParse(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Validates and normalises a define-profile body. */
export function validateProfile(body: Record<string, unknown>): ProfileValidation {
  const name = body.profile_name;
  if (name === undefined || name === null) return { ok: false, code: 'CONFIG_NAME_REQUIRED' };
  if (typeof name !== 'string' || name === '' || charLength(name) > 125) return { ok: false, code: 'CONFIG_NAME_INVALID' };
  if (body.url === undefined || body.url === null) return { ok: false, code: 'CONFIG_URL_REQUIRED' };
  if (!validUrl(body.url)) return { ok: false, code: 'CONFIG_URL_INVALID' };
  // Apple documents no check of configuration_web_url (CONFIG_URL_INVALID names the `url` field): any string goes.
  if (body.configuration_web_url !== undefined && typeof body.configuration_web_url !== 'string') return { ok: false, code: 'MALFORMED_REQUEST_BODY' };
  for (const k of BOOLEANS) if (body[k] !== undefined && typeof body[k] !== 'boolean') return { ok: false, code: 'MALFORMED_REQUEST_BODY' };
  for (const k of STRING_ARRAYS) if (body[k] !== undefined && !isStringArray(body[k])) return { ok: false, code: 'MALFORMED_REQUEST_BODY' };
  if (body.devices !== undefined && !isStringArray(body.devices)) return { ok: false, code: 'MALFORMED_REQUEST_BODY' };
  for (const [k, max, code] of LIMITED_STRINGS) {
    const v = body[k];
    if (v !== undefined && (typeof v !== 'string' || v === '' || charLength(v) > max)) return { ok: false, code };
  }
  // Apple: is_mdm_removable may be false only if is_supervised is true.
  if (body.is_mdm_removable === false && body.is_supervised !== true) return { ok: false, code: 'FLAGS_INVALID' };
  // ISO 639-1 (or 639-2 when there is no 639-1 code) and ISO 3166-1 alpha-2, upper case.
  if (body.language !== undefined && (typeof body.language !== 'string' || !/^[a-z]{2,3}$/i.test(body.language))) return { ok: false, code: 'LOCALE_INVALID' };
  if (body.region !== undefined && (typeof body.region !== 'string' || !/^[A-Z]{2}$/.test(body.region))) return { ok: false, code: 'LOCALE_INVALID' };

  const profile: Record<string, unknown> = { profile_name: name, url: body.url };
  for (const [k, v] of Object.entries(DEFAULTS)) profile[k] = body[k] ?? v;
  const known = ['support_phone_number', 'support_email_address', 'org_magic', 'department', 'language', 'region', 'configuration_web_url', 'do_not_use_profile_from_backup', 'is_return_to_service', ...STRING_ARRAYS] as const;
  // Unknown keys are dropped: Apple's Profile object defines the whole set.
  for (const k of known) if (body[k] !== undefined) profile[k] = body[k];
  return { ok: true, profile: profile as unknown as Omit<Profile, 'devices'>, devices: (body.devices as string[] | undefined) ?? [] };
}
