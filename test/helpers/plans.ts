/**
 * Builders of realistic Plans for tests: deterministic serials and UUIDs, server totals computed the way
 * the planner computes them (changeCount, exceedsMaxChanges, summary), so renderers are tested against
 * plans the planner could really produce.
 */
import { createHash } from 'node:crypto';
import { PLAN_FORMAT_VERSION, summarise, type AssignGroup, type Plan, type ServerPlan } from '../../controller/reconcile/plan.js';

/** A fixed clock for fixtures, so rendered plans are reproducible. */
export const FIXTURE_CREATED_AT = '2026-11-25T13:00:00Z';

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A deterministic Apple-style profile UUID (32 upper-case hex digits, as in Apple's samples). */
export function fakeUuid(seed: string): string {
  return sha256(seed).slice(0, 32).toUpperCase();
}

/** `count` distinct 12-character serials (upper-case letters and digits) starting with `prefix`. */
export function fakeSerials(count: number, prefix = 'C02', start = 0): string[] {
  const width = 12 - prefix.length;
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = prefix + (start + i).toString(36).toUpperCase().padStart(width, '0');
  return out;
}

/** The parts of a ServerPlan a test cares about; the rest gets neutral defaults. */
export type ServerPlanInput = Partial<Omit<ServerPlan, 'changeCount' | 'exceedsMaxChanges'>> & { server: string };

/** A ServerPlan whose changeCount and exceedsMaxChanges follow from its groups, as the planner computes them. */
export function serverPlan(input: ServerPlanInput): ServerPlan {
  const base = {
    defines: [],
    assign: [],
    remove: [],
    drift: [],
    deferred: [],
    conflicts: [],
    devices: 0,
    unchanged: 0,
    maxChanges: null,
    error: null,
    ...input,
  };
  const moved = base.assign.reduce((n, g) => n + g.serials.length, 0) + base.remove.reduce((n, g) => n + g.serials.length, 0);
  const changeCount = base.defines.length + moved;
  const devices = input.devices ?? base.unchanged + moved;
  return {
    server: base.server,
    defines: base.defines,
    assign: base.assign,
    remove: base.remove,
    drift: base.drift,
    deferred: base.deferred,
    conflicts: base.conflicts,
    devices,
    unchanged: base.unchanged,
    changeCount,
    maxChanges: base.maxChanges,
    exceedsMaxChanges: base.maxChanges !== null && changeCount > base.maxChanges,
    error: base.error,
    problem: base.problem ?? (base.error ? { server: base.server, kind: 'transient', reason: 'unreachable', message: base.error, retryAt: null } : null),
    ...(base.migrationDeadlines !== undefined ? { migrationDeadlines: base.migrationDeadlines } : {}),
    ...(base.identity !== undefined ? { identity: base.identity } : {}),
  };
}

/** A whole Plan over `servers`, with its summary computed by the planner's own `summarise`. */
export function buildPlan(servers: ServerPlan[], overrides: Partial<Pick<Plan, 'commit' | 'createdAt'>> = {}): Plan {
  return {
    version: PLAN_FORMAT_VERSION,
    createdAt: overrides.createdAt ?? FIXTURE_CREATED_AT,
    commit: overrides.commit === undefined ? sha256('commit').slice(0, 40) : overrides.commit,
    configHash: `sha256:${sha256(`config:${servers.map((s) => s.server).join(',')}`)}`,
    planHash: `sha256:${sha256(JSON.stringify(servers))}`,
    servers,
    summary: summarise(servers),
  };
}

/** An assign group moving `serials` to `profile`, from nothing unless `from` is given. */
export function assignGroup(profile: string, serials: string[], extra: Partial<AssignGroup> = {}): AssignGroup {
  return {
    profile,
    profileUuid: fakeUuid(profile),
    fromUuid: null,
    fromProfile: null,
    reason: 'unassigned',
    source: 'serial',
    assignment: `${profile}-2026`,
    serials,
    ...extra,
  };
}

/** The content of a first define of classroom-ipads, as the planner shows it (keys sorted). */
export const CLASSROOM_CONTENT = {
  department: 'Classrooms',
  is_mdm_removable: false,
  is_supervised: true,
  profile_name: 'Classroom iPads',
  skip_setup_items: ['AppleID', 'Siri'],
  url: 'https://mdm.example.com/enroll/classrooms/ipads?organisation=lycee-voltaire-paris-3e',
};

/** What a second content of staff-macs changes: a boolean back to Apple's default, a set, a long URL. */
export const STAFF_CHANGES = [
  { key: 'is_mdm_removable', before: false, after: true },
  { key: 'skip_setup_items', before: ['AppleID', 'Location'], after: ['AppleID', 'Privacy', 'Siri'], added: ['Privacy', 'Siri'], removed: ['Location'] },
  { key: 'support_phone_number', before: '+33 1 23 45 67 89', after: null },
  {
    key: 'url',
    before: 'https://mdm.example.com/enroll',
    after: 'https://mdm.example.com/enroll/staff/macs?organisation=lycee-voltaire-paris-3e&campus=nord',
  },
];

/** Two servers already as configured: the "No changes" case. */
export function inLinePlan(): Plan {
  return buildPlan([serverPlan({ server: 'paris', devices: 1200, unchanged: 1200 }), serverPlan({ server: 'lyon', devices: 300, unchanged: 300 })]);
}

/** One server: a new profile and 12 unassigned iPads to give it, plus 3 Macs moving from an older profile. */
export function smallPlan(): Plan {
  return buildPlan([
    serverPlan({
      server: 'paris',
      unchanged: 480,
      maxChanges: 1000,
      defines: [{ profile: 'classroom-ipads', contentHash: sha256('classroom v1'), reason: 'new', previousUuids: [], devices: 12, content: CLASSROOM_CONTENT }],
      assign: [
        assignGroup('classroom-ipads', fakeSerials(12, 'DMP'), { profileUuid: null, source: 'match', assignment: 'classroom-2026' }),
        assignGroup('staff-macs', fakeSerials(3, 'C02'), {
          fromUuid: fakeUuid('lab-macs'),
          fromProfile: 'lab-macs',
          reason: 'different-profile',
          assignment: 'staff-2026',
        }),
      ],
    }),
  ]);
}

/**
 * Three servers with everything at once: paris has changes, drift (corrected and report-only), deferred
 * serials and conflicts and exceeds maxChanges; lyon failed (terms not signed) and shows no changes;
 * nice has drift only, reported and not corrected (driftPolicy: report): profiles depctl assigned that
 * someone removed in the portal, with no time from Apple.
 */
export function messyPlan(): Plan {
  const paris = serverPlan({
    server: 'paris',
    unchanged: 5000,
    maxChanges: 100,
    defines: [
      {
        profile: 'staff-macs',
        contentHash: sha256('staff v2'),
        reason: 'changed',
        previousUuids: [fakeUuid('staff v1')],
        devices: 140,
        changesFrom: fakeUuid('staff v1'),
        changes: STAFF_CHANGES,
      },
    ],
    assign: [
      assignGroup('staff-macs', fakeSerials(140, 'C02'), {
        profileUuid: null,
        fromUuid: fakeUuid('staff v1'),
        fromProfile: 'staff-macs',
        reason: 'content-changed',
        source: 'default',
        assignment: null,
      }),
      assignGroup('classroom-ipads', fakeSerials(4, 'DMQ'), { fromUuid: fakeUuid('portal'), reason: 'drift', source: 'match', assignment: 'classroom-2026' }),
    ],
    remove: [{ fromUuid: fakeUuid('old-lab'), fromProfile: 'old-lab', reason: 'unassigned-remove', serials: fakeSerials(25, 'F9F') }],
    drift: [
      {
        kind: 'profile-changed',
        message: '4 device(s) now carry "Portal Default" (foreign UUID D0960501…, not defined by depctl) instead of "classroom-ipads", since 2026-11-24; apply reassigns them',
        serials: fakeSerials(4, 'DMQ'),
        corrected: true,
        current: { uuid: fakeUuid('portal'), profile: null, name: 'Portal Default' },
        desired: 'classroom-ipads',
        since: '2026-11-24T16:05:00Z',
      },
      { kind: 'serials-not-seen', message: 'listed in assignment classroom-2026 but not assigned to this server', serials: fakeSerials(2, 'GG7'), corrected: false },
      { kind: 'token-expiry', message: 'the server token expires on 2026-12-02 (in 7 days)', serials: [], corrected: false },
    ],
    deferred: [{ until: '2026-11-25T13:30:00Z', lastStatus: 'THROTTLED', attempts: 0, serials: fakeSerials(3, 'H4T') }],
    identity: { serverUuid: '4A1B2C3D4E5F60718293A4B5C6D7E8F9', serverName: 'Paris MDM', orgName: 'Lycée Voltaire', orgType: 'edu', orgId: '1234567', checkedAt: '2026-11-25T12:00:00Z' },
    migrationDeadlines: { devices: 12, earliest: '2026-12-01T17:00:00Z', planned: 4 },
    conflicts: [
      ...fakeSerials(2, 'JK1').map((serial) => ({ serial, message: 'match rules classroom-2026 and carts-2026 have priority 10 and different profiles' })),
      { serial: 'JK2000000009', message: 'listed by assignment carts-2026 for a profile not defined on this server' },
    ],
  });
  const terms = 'Apple terms and conditions are not signed (T_C_NOT_SIGNED): accept them in Apple Business Manager';
  const lyon = serverPlan({ server: 'lyon', devices: 800, error: terms, problem: { server: 'lyon', kind: 'terminal', reason: 'T_C_NOT_SIGNED', message: terms, retryAt: null } });
  const nice = serverPlan({
    server: 'nice',
    unchanged: 200,
    drift: [
      {
        kind: 'profile-changed',
        message: '6 device(s) now carry no profile instead of "staff-macs"; driftPolicy is "report": apply leaves them',
        serials: fakeSerials(6, 'K7L'),
        corrected: false,
        current: { uuid: null, profile: null, name: null },
        desired: 'staff-macs',
        since: null,
      },
    ],
  });
  return buildPlan([paris, lyon, nice]);
}

/** Options of largePlan. */
export interface LargePlanOptions {
  /** Total assigned + removed serials (default 100,000). */
  changes?: number;
  /** How many groups the changes are spread over (default 4: few groups, many serials each). */
  groups?: number;
  /** Distinct conflict messages to add (default 0). */
  conflicts?: number;
}

/**
 * A plan of `changes` serials (100,000 by default) on two servers: most assigned, a tenth removed, spread
 * over `groups` groups (many groups stand in for devices moving off many foreign profiles).
 */
export function largePlan(opts: LargePlanOptions = {}): Plan {
  const changes = opts.changes ?? 100_000;
  const groups = Math.max(2, opts.groups ?? 4);
  const removed = Math.floor(changes / 10);
  const all = fakeSerials(changes, 'C0');
  const perGroup = Math.ceil((changes - removed) / (groups - 1));
  const assign: AssignGroup[] = [];
  for (let i = 0, at = removed; at < changes; i++, at += perGroup) {
    const from = i === 0 ? null : fakeUuid(`foreign-${i}`);
    assign.push(
      assignGroup(i % 2 === 0 ? 'classroom-ipads' : 'staff-macs', all.slice(at, Math.min(at + perGroup, changes)), {
        fromUuid: from,
        reason: from === null ? 'unassigned' : 'different-profile',
        source: 'match',
        assignment: i % 2 === 0 ? 'classroom-2026' : 'staff-2026',
      }),
    );
  }
  const conflicts = Array.from({ length: opts.conflicts ?? 0 }, (_, i) => ({
    serial: `JK${String(i).padStart(10, '0')}`,
    message: `match rules rule-${i}-a and rule-${i}-b have equal priority and different profiles`,
  }));
  const big = serverPlan({
    server: 'paris',
    unchanged: 250_000,
    maxChanges: 50_000,
    defines: [{ profile: 'classroom-ipads', contentHash: sha256('classroom v3'), reason: 'new', previousUuids: [], devices: perGroup }],
    assign,
    remove: [{ fromUuid: fakeUuid('old-lab'), fromProfile: 'old-lab', reason: 'unassigned-remove', serials: all.slice(0, removed) }],
    drift: [
      {
        kind: 'profile-changed',
        message: '5000 device(s) now carry foreign profile B7E03C53… (not defined by depctl) instead of "staff-macs", since 2026-11-20; apply reassigns them',
        serials: all.slice(removed, removed + 5000),
        corrected: true,
        current: { uuid: fakeUuid('foreign-1'), profile: null, name: null },
        desired: 'staff-macs',
        since: '2026-11-20T08:00:00Z',
      },
    ],
    deferred: [{ until: '2026-11-25T14:00:00Z', lastStatus: 'THROTTLED', serials: all.slice(changes - 2000) }],
    conflicts,
  });
  return buildPlan([big, serverPlan({ server: 'lyon', devices: 900, unchanged: 900 })]);
}

/** Names, messages and serials full of characters that break markdown tables, HTML and terminals. */
export function hostilePlan(): Plan {
  const evil = 'lab|<script>alert(1)</script>`rm`*bold*';
  return buildPlan([
    serverPlan({
      server: 'srv|a<b>',
      unchanged: 1,
      defines: [{ profile: evil, contentHash: 'x', reason: 'new', previousUuids: [], devices: 1 }],
      assign: [assignGroup(evil, ['AB|CD<EF>`G', 'C02\u001b[31mRED'], { profileUuid: null, assignment: 'a|b' })],
      drift: [
        {
          kind: 'foreign-profile',
          message: 'line one\nline two | `x` <img src=x>',
          serials: ['S|1'],
          corrected: true,
          current: { uuid: 'UU|ID<i>', profile: null, name: 'Other\nMDM | <b>`x`</b>\u001b[2J' },
          desired: evil,
          since: null,
        },
      ],
      conflicts: [{ serial: 'Q`1', message: 'rules a|b and <c> clash\r\n' }],
    }),
    serverPlan({ server: 'broken', error: 'network: connect ECONNREFUSED 127.0.0.1:443 | <retry> `later`' }),
  ]);
}
