/**
 * The Plan: what `depctl plan` shows and `depctl apply` carries out, as plain data (STYLE rule 7).
 * Renderers live in cli/views/; nothing here does I/O. Serials are grouped by (from, to, reason) so a
 * plan of a million changes stays compact and renders in groups.
 */

import { createHash } from 'node:crypto';
import type { RecordedIdentity } from './identity.js';
import type { ServerProblem } from './outcome.js';
import type { OrganizationPlan } from '../ownership/plan.js';

/** Version of the plan format (schemas/plan.schema.json); bumped only on incompatible changes. */
export const PLAN_FORMAT_VERSION = 1;

/** Why a device gets a profile (or loses one). */
export type ChangeReason =
  /** The device has no profile yet. */
  | 'unassigned'
  /** The device carries another profile than the configuration wants. */
  | 'different-profile'
  /** The profile's content changed: a new UUID replaces the old one. */
  | 'content-changed'
  /** Someone changed the device's profile outside depctl (portal, another tool). */
  | 'drift'
  /** The server's `unassignedDevices: remove` clears profiles of devices no assignment names. */
  | 'unassigned-remove'
  /** Apple no longer knows the profile UUID the device should carry. */
  | 'profile-gone'
  /**
   * The device arrived on this server (sync `added`, a serial not seen before, or one that left and came
   * back). It may carry the profile UUID Apple kept from before and not get that profile in Setup Assistant
   * until it is assigned again, so it is assigned once per arrival even when the UUID already matches.
   */
  | 'arrived';

/** Where a device's desired profile comes from. */
export type DesiredSource = 'serial' | 'match' | 'default';

/** A value of an Apple profile key as a plan shows it: Apple's keys hold strings, booleans and lists of strings. */
export type ProfileValue = string | number | boolean | ProfileValue[];

/**
 * One key whose value differs between the content a define replaces and the new content. Apple's defaults
 * count as their value (a key left out that Apple defaults to `true` reads `true`), so writing a default
 * explicitly is not a change.
 */
export interface ProfileChange {
  /** Apple's key, e.g. `is_mdm_removable`. */
  key: string;
  /** The value before, or null when the key was not set and has no Apple default. */
  before: ProfileValue | null;
  /** The value after, or null when the key is no longer set and has no Apple default. */
  after: ProfileValue | null;
  /** Set-valued keys (`skip_setup_items`, certificates): items the new content adds, sorted. */
  added?: string[];
  /** Set-valued keys: items the new content drops, sorted. */
  removed?: string[];
}

/** A profile content to define on a server (Apple profiles are immutable: new content, new UUID). */
export interface ProfileDefine {
  profile: string;
  contentHash: string;
  /** `new`: never defined on this server; `changed`: defined before with other content. */
  reason: 'new' | 'changed' | 'gone';
  /** UUIDs of earlier contents of the same profile on this server, if any. */
  previousUuids: string[];
  /** Number of devices that will carry it. */
  devices: number;
  /**
   * `changed`: the UUID whose stored content `changes` compares with (the newest of `previousUuids`). Absent
   * for other reasons, when the store kept no content for it, and in plans saved by earlier versions.
   */
  changesFrom?: string;
  /** `changed`: each key that differs from the content of `changesFrom`, by key name. */
  changes?: ProfileChange[];
  /** `new`: the whole content as it is sent to Apple (keys sorted, without `devices`). */
  content?: Record<string, ProfileValue>;
}

/** Devices that get the same profile for the same reason from the same current profile. */
export interface AssignGroup {
  /** Name of the target EnrollmentProfile. */
  profile: string;
  /** The target's Apple UUID, or null when it is defined by this plan. */
  profileUuid: string | null;
  /** The profile UUID the devices carry now (null: none). */
  fromUuid: string | null;
  /** The name of the profile behind fromUuid when depctl defined it. */
  fromProfile: string | null;
  reason: ChangeReason;
  /** Which rule made the decision: explicit serial, match rule (with its assignment) or default. */
  source: DesiredSource;
  assignment: string | null;
  serials: string[];
}

/** Devices whose profile is cleared (`unassignedDevices: remove`). */
export interface RemoveGroup {
  fromUuid: string;
  fromProfile: string | null;
  reason: ChangeReason;
  serials: string[];
}

/** Kinds of drift the plan reports. */
export type DriftKind =
  /**
   * Devices depctl assigned (or cleared) whose live profile is now another one, a foreign one or none:
   * changed in the portal or by another tool. One finding per device, whatever it carries now.
   */
  | 'profile-changed'
  /** Serials listed in the config that the server does not have. */
  | 'serials-not-seen'
  /** The server token expires soon (30/14/7/1 days) or has expired. */
  | 'token-expiry'
  /** A profile UUID Apple no longer knows. */
  | 'profile-gone'
  /** Devices depctl never assigned that carry a profile depctl did not define. */
  | 'foreign-profile'
  /**
   * Devices Apple answered NOT_ACCESSIBLE for at the last apply (moved to another MDM server in Apple Business
   * Manager, or released). Not assigned again until Apple shows them on this server again (a sync event or an
   * arrival).
   */
  | 'not-accessible';

/** The profile a group of drifted devices carries now. */
export interface DriftProfile {
  /** The Apple profile UUID, or null when the devices carry no profile. */
  uuid: string | null;
  /** depctl's name for it when depctl defined that UUID (a known profile), else null. */
  profile: string | null;
  /** Apple's `profile_name` of a foreign UUID (from `GET /profile`), or null when unknown or not looked up. */
  name: string | null;
}

/**
 * One drift finding. Device drift (`profile-changed`, `foreign-profile`) is grouped by (kind, current
 * profile, desired profile), so each device is in exactly one finding; those findings also say what the
 * devices carry now, what they should carry and since when. Other kinds leave those fields out.
 */
export interface DriftItem {
  kind: DriftKind;
  message: string;
  serials: string[];
  /** Whether apply corrects it (false when the server's driftPolicy is `report`). */
  corrected: boolean;
  /** Device drift: the profile the devices carry now. */
  current?: DriftProfile;
  /** Device drift: the depctl profile they should carry, or null when they should carry none (removal). */
  desired?: string | null;
  /**
   * Device drift: the earliest time Apple reports for the change (`profile_assign_time` of the profile
   * they carry, else the sync's `op_date`), ISO 8601; null when Apple gave none.
   */
  since?: string | null;
}

/** Devices that are not touched before a time (THROTTLED or FAILED with a retry time). */
export interface DeferredGroup {
  /** Not tried again before this time (ISO 8601). */
  until: string;
  /** Apple's last answer for these serials (THROTTLED, FAILED, ...). */
  lastStatus: string;
  /** Consecutive failed attempts so far (0 for THROTTLED); absent in plans made before depctl 0.2. */
  attempts?: number;
  serials: string[];
}

/**
 * A server's devices that Apple gave an MDM migration deadline (`mdm_migration_deadline`, protocol 8): they are
 * being migrated to this MDM server and must enroll with it by then, so their profile must be in place first.
 */
export interface MigrationDeadlines {
  /** Devices of the server with a deadline. */
  devices: number;
  /** The earliest deadline, ISO 8601 UTC. */
  earliest: string;
  /** Of those devices, how many this plan assigns a profile to (or removes one from). */
  planned: number;
}

/** A device the plan cannot decide for (e.g. two equal-priority match rules with different profiles). */
export interface Conflict {
  serial: string;
  message: string;
}

/** The plan for one MDM server. */
export interface ServerPlan {
  server: string;
  defines: ProfileDefine[];
  assign: AssignGroup[];
  remove: RemoveGroup[];
  drift: DriftItem[];
  deferred: DeferredGroup[];
  conflicts: Conflict[];
  /** Number of devices the server has (observed). */
  devices: number;
  /** Devices already as desired. */
  unchanged: number;
  /** Changes counted against maxChanges: defines + assigned serials + removed serials. */
  changeCount: number;
  maxChanges: number | null;
  /** True when changeCount exceeds maxChanges (apply then needs --allow-large). */
  exceedsMaxChanges: boolean;
  /** The message of the problem that stops this server (token, terms, network); the server has no changes then. */
  error: string | null;
  /**
   * The problem itself, typed (kind, reason, retry time); null when the server could be planned. Absent in
   * plans saved by depctl 0.1 (`apply --plan` of such a file still works: `error` carries the message).
   */
  problem?: ServerProblem | null;
  /**
   * Devices with an MDM migration deadline and the earliest deadline; null when none has one. Absent in plans
   * saved by earlier versions of depctl.
   */
  migrationDeadlines?: MigrationDeadlines | null;
  /**
   * Who Apple says the server token belongs to (`GET /account`, reconcile/identity.ts) as the store records it
   * after this plan's check; null when never recorded. The human views show it in the server's header line.
   * Not part of the JSON view (schemas/plan.schema.json), so absent in plans read back from a file.
   */
  identity?: RecordedIdentity | null;
}

/** Totals over all servers. */
export interface PlanSummary {
  defines: number;
  assign: number;
  remove: number;
  drift: number;
  deferred: number;
  conflicts: number;
  errors: number;
}

/** A whole plan. */
export interface Plan {
  version: typeof PLAN_FORMAT_VERSION;
  createdAt: string;
  /** Git commit of the configuration, when known. */
  commit: string | null;
  /** Hash of the loaded configuration (apply --plan refuses a plan made from another config). */
  configHash: string;
  /** Hash of the changes (apply --plan refuses a plan whose changes are no longer what it would do). */
  planHash: string;
  servers: ServerPlan[];
  /** Servers of the configuration left out by `--server` (neither read nor changed); absent when none was. */
  skippedServers?: string[];
  summary: PlanSummary;
  /**
   * Device ownership in Apple Business/School Manager per Organization (issue 15, controller/ownership/);
   * absent when the configuration declares no Organization. Set through {@link withOrganizations}, which
   * folds the device moves into `planHash`.
   */
  organizations?: OrganizationPlan[];
}

/** Totals of a list of server plans. */
export function summarise(servers: readonly ServerPlan[]): PlanSummary {
  const count = (f: (s: ServerPlan) => number): number => servers.reduce((n, s) => n + f(s), 0);
  return {
    defines: count((s) => s.defines.length),
    assign: count((s) => s.assign.reduce((n, g) => n + g.serials.length, 0)),
    remove: count((s) => s.remove.reduce((n, g) => n + g.serials.length, 0)),
    drift: count((s) => s.drift.length),
    deferred: count((s) => s.deferred.reduce((n, g) => n + g.serials.length, 0)),
    conflicts: count((s) => s.conflicts.length),
    errors: count((s) => (s.error ? 1 : 0)),
  };
}

/** True when applying the plan would write anything. */
export function hasChanges(plan: Plan): boolean {
  return plan.summary.defines + plan.summary.assign + plan.summary.remove > 0;
}

/**
 * Changes the plan makes in Apple Business/School Manager (issue 15): devices moved or assigned between MDM
 * servers, and servers created or updated.
 */
export function ownershipChangeCount(plan: Plan): number {
  return (plan.organizations ?? []).reduce((n, o) => n + o.changeCount + (o.serverChanges?.length ?? 0), 0);
}

/** True when applying the plan would write anything, on the DEP side or in Apple Business/School Manager. */
export function hasAnyChanges(plan: Plan): boolean {
  return hasChanges(plan) || ownershipChangeCount(plan) > 0;
}

/**
 * Attaches the ownership plans (issue 15) and folds their device moves (organization, from server id, to
 * server id, serials) into `planHash`, so `apply --plan` refuses a saved plan whose moves changed by the one
 * hash it already compares. A plan without Organizations keeps the DEP-only hash it always had.
 */
export function withOrganizations(plan: Plan, organizations: OrganizationPlan[]): Plan {
  plan.organizations = organizations;
  plan.planHash = createHash('sha256')
    .update(JSON.stringify({ dep: plan.planHash, organizations: organizations.map(ownershipHashInput) }))
    .digest('hex');
  return plan;
}

/** What of an organization's plan the hash covers: its moves and first assignments, and whether it could be planned. */
function ownershipHashInput(o: OrganizationPlan): unknown {
  const servers = (o.serverChanges ?? []).map((c) => [c.action, c.server, c.id, c.changes.map((x) => [x.field, x.before, x.after])]);
  const unassigns = (o.unassigns ?? []).map((u) => [u.from.id, u.serials]);
  return [o.organization, o.error, [...o.moves, ...o.assigns].map((m) => [m.from?.id ?? null, m.to.id, m.serials]), ...(servers.length > 0 ? [servers] : []), ...(unassigns.length > 0 ? [['unassign', unassigns]] : [])];
}
