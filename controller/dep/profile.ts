/**
 * Profile shapes on the way in and out. Apple rejects optional strings sent as `""` (`*_INVALID`,
 * dep-protocol.md section 3), and GET /profile has been seen both with the documented `is_*` booleans
 * (micromdm's 2018 fixture) and without the prefix (petarov, 2026); we accept both and hand out `is_*`.
 */
import type { FetchProfileWireResponse, Profile } from './types.js';

/** A profile as read back from Apple, with booleans normalised to the documented `is_*` names. */
export type FetchedProfile = Omit<Profile, 'devices'> & { profile_uuid: string };

/** Un-prefixed boolean names Apple may send, and the documented name each maps to. */
const UNPREFIXED = {
  supervised: 'is_supervised',
  mandatory: 'is_mandatory',
  mdm_removable: 'is_mdm_removable',
  multi_user: 'is_multi_user',
  return_to_service: 'is_return_to_service',
} as const;

/**
 * Normalises a GET /profile response: un-prefixed booleans move to their `is_*` names (a documented
 * `is_*` value wins when both are present) and disappear from the result.
 */
export function normaliseFetchedProfile(wire: FetchProfileWireResponse): FetchedProfile {
  const out: Record<string, unknown> = { ...wire };
  for (const [bare, prefixed] of Object.entries(UNPREFIXED)) {
    const value = out[bare];
    delete out[bare];
    if (typeof value === 'boolean' && typeof out[prefixed] !== 'boolean') out[prefixed] = value;
  }
  return out as FetchedProfile;
}

/**
 * The body of POST /profile: the profile without `undefined` values and without empty optional
 * strings, which Apple would reject with a `*_INVALID` code.
 */
export function profileRequestBody(profile: Profile): Profile {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(profile)) {
    if (value === undefined) continue;
    if (value === '' && key !== 'profile_name' && key !== 'url') continue;
    out[key] = value;
  }
  return out as unknown as Profile;
}
