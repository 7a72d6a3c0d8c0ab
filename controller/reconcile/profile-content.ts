import { createHash } from 'node:crypto';
import type { Profile } from '../dep/types.js';
import type { ProfileChange, ProfileValue } from './plan.js';

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

/** A canonical value as a plan shows it (profiles hold strings, booleans and lists of strings). */
function planValue(value: unknown): ProfileValue {
  if (Array.isArray(value)) return value.map(planValue);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value) ?? String(value);
}

/**
 * The keys whose values differ between two contents of a profile, sorted by key: both are compared in their
 * canonical form, so Apple's defaults, key order and the order of set-valued keys are not changes. A key
 * missing on one side reads as Apple's default for it, or null when it has none. Set-valued keys
 * (`skip_setup_items`, certificates) also say which items were added and removed.
 */
export function profileChanges(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): ProfileChange[] {
  const a = canonicalProfile(before);
  const b = canonicalProfile(after);
  const changes: ProfileChange[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const fallback = APPLE_PROFILE_DEFAULTS[key as keyof Profile] ?? null;
    const old = key in a ? planValue(a[key]) : fallback;
    const now = key in b ? planValue(b[key]) : fallback;
    if (JSON.stringify(old) === JSON.stringify(now)) continue;
    const change: ProfileChange = { key, before: old, after: now };
    if (SET_KEYS.has(key as keyof Profile)) {
      const was = new Set(Array.isArray(old) ? old.map(String) : []);
      const is = new Set(Array.isArray(now) ? now.map(String) : []);
      change.added = [...is].filter((x) => !was.has(x)).sort();
      change.removed = [...was].filter((x) => !is.has(x)).sort();
    }
    changes.push(change);
  }
  return changes;
}

/**
 * A profile's content as a plan shows it for a first define: every key that is set (defaults written out
 * stay, since the author wrote them), sorted, without `devices` and `profile_uuid`.
 */
export function profileContent(profile: Readonly<Record<string, unknown>>): Record<string, ProfileValue> {
  const out: Record<string, ProfileValue> = {};
  for (const key of Object.keys(profile).sort()) {
    const value = profile[key];
    if (key === 'devices' || key === 'profile_uuid' || value === undefined || value === null || value === '') continue;
    out[key] = planValue(value);
  }
  return out;
}
