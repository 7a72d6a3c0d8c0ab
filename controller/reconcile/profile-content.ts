import { createHash } from 'node:crypto';
import type { Profile } from '../dep/types.js';

/**
 * Apple's documented defaults for profile keys (dep-protocol.md §3, Profile object). A key set to its default
 * means the same as the key left out, so both hash the same: a profile read back from Apple with
 * `allow_pairing: true` filled in must not show as changed (STYLE rule 4, "no permanent false drift").
 */
export const APPLE_PROFILE_DEFAULTS: Readonly<Partial<Record<keyof Profile, boolean>>> = {
  allow_pairing: true,
  is_supervised: false,
  is_multi_user: false,
  is_mandatory: false,
  await_device_configured: false,
  is_mdm_removable: true,
  auto_advance_setup: false,
  do_not_use_profile_from_backup: false,
  is_return_to_service: false,
};

/** Keys whose value is a set: order and repeats carry no meaning to Apple. */
const SET_KEYS = new Set<keyof Profile>(['skip_setup_items', 'anchor_certs', 'supervising_host_certs']);

/**
 * The canonical form of a profile: defaults and empty values dropped, sets sorted and de-duplicated,
 * certificates without whitespace, keys sorted, `devices` and `profile_uuid` left out.
 */
export function canonicalProfile(profile: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(profile).sort()) {
    if (key === 'devices' || key === 'profile_uuid') continue;
    let value = profile[key];
    if (value === undefined || value === null || value === '') continue;
    if (APPLE_PROFILE_DEFAULTS[key as keyof Profile] === value) continue;
    if (SET_KEYS.has(key as keyof Profile) && Array.isArray(value)) {
      const items = value.map((v) => (key === 'skip_setup_items' ? String(v) : String(v).replace(/\s+/g, '')));
      value = [...new Set(items)].sort();
      if ((value as string[]).length === 0) continue;
    }
    out[key] = value;
  }
  return out;
}

/** SHA-256 (hex) of the canonical profile: the identity of a profile's content. */
export function profileContentHash(profile: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(JSON.stringify(canonicalProfile(profile))).digest('hex');
}
