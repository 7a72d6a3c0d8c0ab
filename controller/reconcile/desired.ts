import type { DiffDevice } from './diff.js';
import type { DepConfig, Match, MdmServer } from '../config/types.js';
import type { DesiredSource } from './plan.js';

/** What the configuration wants for one device. */
export type Decision =
  | { kind: 'profile'; profile: string; source: DesiredSource; assignment: string | null }
  | { kind: 'remove' }
  | { kind: 'ignore' }
  | { kind: 'conflict'; message: string };

interface MatchRule {
  assignment: string;
  profile: string;
  priority: number;
  test: (d: DiffDevice) => boolean;
}

/** The rules of one server, compiled once per plan: explicit serials, match rules, default policy. */
export interface ServerRules {
  server: MdmServer;
  /** serial → explicit assignment on this server. */
  explicit: ReadonlyMap<string, { profile: string; assignment: string }>;
  /** Match rules on this server, highest priority first. */
  rules: readonly MatchRule[];
  /**
   * Whether a match rule on this server tests `description` or `color` (the differ reads them only then, and a store
   * may leave them out of its read otherwise: PlanStore.iterateDiffDevices).
   */
  readsDescriptionOrColor: boolean;
}

/** Compiles the rules that decide profiles on one server. */
export function compileServerRules(config: DepConfig, serverName: string): ServerRules {
  const server = config.servers.find((s) => s.name === serverName);
  if (!server) throw new Error(`unknown server ${serverName}`);
  const explicit = new Map<string, { profile: string; assignment: string }>();
  const rules: MatchRule[] = [];
  let readsDescriptionOrColor = false;
  for (const a of config.assignments) {
    if (!a.servers.includes(serverName)) continue;
    for (const serial of a.serials) explicit.set(serial, { profile: a.profile, assignment: a.name });
    if (!a.match) continue;
    rules.push({ assignment: a.name, profile: a.profile, priority: a.priority, test: compileMatch(a.match) });
    if (a.match.description !== undefined || a.match.color !== undefined) readsDescriptionOrColor = true;
  }
  rules.sort((x, y) => y.priority - x.priority || x.assignment.localeCompare(y.assignment));
  return { server, explicit, rules, readsDescriptionOrColor };
}

/**
 * Which profile a device should have (DESIGN.md): its explicit serial listing; else the highest-priority
 * matching rule (two equal-priority rules naming different profiles are a conflict for that device); else,
 * when `unassignedDevices: default`, the server's defaultProfiles entry for the device's family, then its
 * defaultProfile (a device of another family, or without device_family, with no catch-all is left alone);
 * else nothing (`ignore` leaves it alone, `remove` clears its profile).
 */
export function decide(rules: ServerRules, device: DiffDevice): Decision {
  const explicit = rules.explicit.get(device.serial_number.toUpperCase());
  if (explicit) return { kind: 'profile', profile: explicit.profile, source: 'serial', assignment: explicit.assignment };
  let winner: MatchRule | undefined;
  for (const rule of rules.rules) {
    if (winner && rule.priority < winner.priority) break;
    if (!rule.test(device)) continue;
    if (!winner) {
      winner = rule;
    } else if (rule.profile !== winner.profile) {
      return {
        kind: 'conflict',
        message: `match rules of assignments "${winner.assignment}" and "${rule.assignment}" both have priority ${rule.priority} and want different profiles ("${winner.profile}", "${rule.profile}"); give one a higher priority`,
      };
    }
  }
  if (winner) return { kind: 'profile', profile: winner.profile, source: 'match', assignment: winner.assignment };
  const { unassignedDevices, defaultProfile, defaultProfiles } = rules.server;
  if (unassignedDevices === 'default') {
    const profile = familyDefault(defaultProfiles, device.device_family) ?? defaultProfile;
    if (profile) return { kind: 'profile', profile, source: 'default', assignment: null };
  }
  if (unassignedDevices === 'remove') return { kind: 'remove' };
  return { kind: 'ignore' };
}

/** The defaultProfiles entry for a device family as DEP reports it (exact spelling, as match rules compare it). */
function familyDefault(defaults: MdmServer['defaultProfiles'], family: string | undefined): string | undefined {
  if (!defaults || typeof family !== 'string' || !Object.hasOwn(defaults, family)) return undefined;
  return defaults[family as keyof typeof defaults];
}

/** Turns a match selector into a predicate; strings other than family and OS may use `*` wildcards. */
export function compileMatch(match: Match): (d: DiffDevice) => boolean {
  const tests: ((d: DiffDevice) => boolean)[] = [];
  const anyOf = (values: readonly string[], read: (d: DiffDevice) => string | undefined, glob: boolean): void => {
    const patterns = values.map((v) => (glob ? globToRegExp(v) : undefined));
    tests.push((d) => {
      const actual = read(d);
      // Absent and null (Apple's schema has strings) match nothing.
      if (typeof actual !== 'string') return false;
      return values.some((v, i) => (patterns[i] ? patterns[i].test(actual) : v === actual));
    });
  };
  if (match.device_family) anyOf(match.device_family, (d) => d.device_family, false);
  if (match.os) anyOf(match.os, (d) => d.os, false);
  if (match.model) anyOf(match.model, (d) => d.model, true);
  if (match.description) anyOf(match.description, (d) => d.description, true);
  if (match.color) anyOf(match.color, (d) => d.color, true);
  if (match.serialPrefix) {
    const prefixes = match.serialPrefix.map((p) => p.toUpperCase());
    tests.push((d) => prefixes.some((p) => d.serial_number.toUpperCase().startsWith(p)));
  }
  return (d) => tests.every((t) => t(d));
}

/** `*` matches any run of characters; comparison ignores case (Apple's model strings vary in case). */
function globToRegExp(glob: string): RegExp | undefined {
  if (!glob.includes('*')) return new RegExp(`^${escape(glob)}$`, 'i');
  return new RegExp(`^${glob.split('*').map(escape).join('.*')}$`, 'i');
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
