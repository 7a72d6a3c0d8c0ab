/**
 * The enrollment part of the controller status (issue 14 part 4), from the store: per profile depctl serves,
 * the attempts by outcome and the devices DEP pushed the profile to that never enrolled ("assigned, never
 * enrolled": set up by hand, or stuck). Profiles whose url is the admin's own server are left out: their
 * enrollments happen elsewhere, so every pushed device would look like drift.
 */
import type { DepConfig } from '../config/types.js';
import type { EnrollmentProfileStatus } from '../reconcile/status.js';
import type { EnrollStore } from './ports.js';

/** Builds the per-profile enrollment status; an empty list when no profile is served by depctl. */
export async function enrollmentStatus(config: Pick<DepConfig, 'profiles' | 'servers'>, store: EnrollStore): Promise<EnrollmentProfileStatus[]> {
  const served = config.profiles.filter((p) => p.enroll);
  if (served.length === 0) return [];
  const out = new Map<string, EnrollmentProfileStatus>();
  for (const p of served) {
    out.set(p.name, { profile: p.name, enrollment: p.enroll?.enrollment ?? '', enrolled: 0, refused: 0, heldForUpdate: 0, badRequest: 0, assignedNeverEnrolled: 0 });
  }
  for (const c of await store.countEnrollmentAttempts()) {
    const s = out.get(c.profile);
    if (!s) continue;
    if (c.outcome === 'enrolled') s.enrolled += c.count;
    else if (c.outcome === 'refused') s.refused += c.count;
    else if (c.outcome === 'held-for-update') s.heldForUpdate += c.count;
    else s.badRequest += c.count;
  }
  for (const server of config.servers) {
    const [byUuid, profiles] = await Promise.all([store.countPushedNeverEnrolled(server.name), store.listProfiles(server.name)]);
    // Every content version of a profile keeps its name, so older UUIDs count under the same profile.
    const nameOf = new Map(profiles.filter((p) => p.uuid).map((p) => [p.uuid as string, p.name] as const));
    for (const [uuid, n] of byUuid) {
      const s = uuid === null ? undefined : out.get(nameOf.get(uuid) ?? '');
      if (s && s.assignedNeverEnrolled !== null) s.assignedNeverEnrolled += n;
    }
  }
  return [...out.values()];
}
