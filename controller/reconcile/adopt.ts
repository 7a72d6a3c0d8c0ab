/**
 * Adoption of an existing fleet (`depctl import`): turns the profiles devices carry on one server (as read
 * back with GET /profile) into EnrollmentProfile and Assignment documents that, once committed, make the
 * plan show no changes. Pure: the caller observes Apple, reads the store and writes the files.
 */
import { stringify } from 'yaml';
import { APPLE_PROFILE_DEFAULTS } from './profile-content.js';

/** The JSON type of a profile key, as the enrollment-profile schema declares it. */
export type ProfileKeyType = 'string' | 'boolean' | 'string-array';

/** One profile UUID seen on devices, with its content as Apple returns it. */
export interface ForeignProfile {
  uuid: string;
  /** GET /profile's answer, booleans already normalised to `is_*` (dep/profile.ts). */
  profile: Readonly<Record<string, unknown>>;
  /** Serials of the devices that carry it. */
  serials: readonly string[];
  /** A name to keep when it is free (the name depctl recorded for this UUID before, e.g. a previous import). */
  preferredName?: string;
}

/** What the builder needs besides the profiles. */
export interface AdoptInput {
  server: string;
  profiles: readonly ForeignProfile[];
  /** Names the configuration already uses, per kind. */
  takenProfileNames: ReadonlySet<string>;
  takenAssignmentNames: ReadonlySet<string>;
  /** Serials existing assignments list explicitly → the assignment that lists them. */
  listedSerials: ReadonlyMap<string, string>;
  /** Groups larger than this go to a CSV file. */
  csvThreshold: number;
  /** Profile keys the schema allows, in the schema's order, with their types. */
  profileKeys: ReadonlyMap<string, ProfileKeyType>;
  /** SkipKeys the schema accepts (current and deprecated). */
  skipKeys: ReadonlySet<string>;
  importedAt: Date;
}

/** One adopted profile: its documents' names, its body as written and its devices. */
export interface AdoptedProfile {
  uuid: string;
  /** metadata.name of the EnrollmentProfile and of its Assignment (kinds have separate namespaces). */
  name: string;
  assignmentName: string;
  /** The name slugified from profile_name, when `name` had to differ from it. */
  wantedName: string | null;
  body: Record<string, unknown>;
  serials: string[];
  /** The YAML file (and CSV file, for large groups) relative to the output directory. */
  yamlFile: string;
  csvFile: string | null;
  /** What was left out of Apple's answer and why (unknown keys, removed SkipKeys, wrong types). */
  notes: string[];
}

/** Serials left out because an existing assignment already lists them. */
export interface LeftOutSerials {
  uuid: string;
  assignment: string;
  serials: string[];
}

/** The outcome of {@link buildAdoption}. */
export interface Adoption {
  profiles: AdoptedProfile[];
  leftOut: LeftOutSerials[];
  /** Profiles not imported because every device carrying them is already listed by an existing assignment. */
  fullyListed: string[];
  /** File contents by path relative to the output directory. */
  files: Map<string, string>;
}

/** The first line of every YAML file import writes; `--force` recognises a previous import by it. */
export const IMPORT_MARKER = '# Imported by depctl import';

/** The header of the CSV files import writes (Apple Business Manager's column name). */
export const CSV_HEADER = 'Serial Number';

const NAME_MAX = 63;

/** Slugifies a profile_name to the metadata.name pattern `[a-z0-9]([a-z0-9-]*[a-z0-9])?` (at most 63 characters). */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, NAME_MAX)
    .replace(/-+$/, '');
  return slug === '' ? 'profile' : slug;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** `base`, else `base-2`, `base-3`, … (shortened to stay within 63 characters), whichever is not taken. */
export function uniqueName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) {
    const suffix = `-${i}`;
    const name = `${base.slice(0, NAME_MAX - suffix.length).replace(/-+$/, '')}${suffix}`;
    if (!taken.has(name)) return name;
  }
}

/**
 * The profile body to write: only keys the schema allows, in the schema's order (profile_name and url
 * first); empty optional strings dropped (Apple rejects `""`, dep-protocol.md §3); keys equal to Apple's
 * documented defaults dropped (they hash the same, profile-content.ts); SkipKeys depctl does not know at all
 * (`skipKeys`: current, deprecated and removed ones) dropped. Everything dropped is noted.
 */
export function profileBody(profile: Readonly<Record<string, unknown>>, keys: ReadonlyMap<string, ProfileKeyType>, skipKeys: ReadonlySet<string>): { body: Record<string, unknown>; notes: string[] } {
  const body: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const [key, type] of keys) {
    const value = profile[key];
    if (value === undefined || value === null) continue;
    if (type === 'string') {
      if (typeof value !== 'string') notes.push(`${key}: not a string, left out`);
      else if (value !== '' || key === 'profile_name' || key === 'url') body[key] = value;
    } else if (type === 'boolean') {
      if (typeof value !== 'boolean') notes.push(`${key}: not a boolean, left out`);
      else if (APPLE_PROFILE_DEFAULTS[key as keyof typeof APPLE_PROFILE_DEFAULTS] !== value) body[key] = value;
    } else if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      notes.push(`${key}: not a list of strings, left out`);
    } else {
      let items = [...new Set(value as string[])];
      if (key === 'skip_setup_items') {
        const unknown = items.filter((k) => !skipKeys.has(k));
        if (unknown.length > 0) notes.push(`skip_setup_items: ${unknown.join(', ')} left out (not a SkipKey depctl knows)`);
        items = items.filter((k) => skipKeys.has(k));
      }
      if (items.length > 0) body[key] = items;
    }
  }
  for (const key of Object.keys(profile)) {
    if (!keys.has(key) && key !== 'profile_uuid' && key !== 'devices') notes.push(`${key}: not a profile key depctl knows, left out`);
  }
  return { body, notes };
}

/**
 * Builds the documents of an import: one EnrollmentProfile per UUID (on this server only) and one Assignment
 * listing the serials that carry it, inline or, past the threshold, in a CSV. Serials an existing assignment
 * already lists are left out, so the result validates together with the existing configuration.
 */
export function buildAdoption(input: AdoptInput): Adoption {
  const profileNames = new Set(input.takenProfileNames);
  const assignmentNames = new Set(input.takenAssignmentNames);
  const out: Adoption = { profiles: [], leftOut: [], fullyListed: [], files: new Map() };
  // Larger groups first, so the most used profile keeps the plain name when two share a profile_name.
  const ordered = [...input.profiles].sort((a, b) => b.serials.length - a.serials.length || a.uuid.localeCompare(b.uuid));
  // Names recorded for these UUIDs before are reserved first, so a re-import keeps its names.
  const reserved = new Map<string, string>();
  for (const p of ordered) {
    const n = p.preferredName;
    if (n && NAME_RE.test(n) && !profileNames.has(n) && ![...reserved.values()].includes(n)) reserved.set(p.uuid, n);
  }
  for (const n of reserved.values()) profileNames.add(n);
  for (const p of ordered) {
    const serials: string[] = [];
    const left = new Map<string, string[]>();
    for (const s of new Set(p.serials)) {
      const by = input.listedSerials.get(s);
      if (by === undefined) serials.push(s);
      else left.set(by, [...(left.get(by) ?? []), s]);
    }
    for (const [assignment, list] of left) out.leftOut.push({ uuid: p.uuid, assignment, serials: list.sort() });
    const preferred = reserved.get(p.uuid);
    if (serials.length === 0) {
      out.fullyListed.push(p.uuid);
      if (preferred) profileNames.delete(preferred);
      continue;
    }
    serials.sort();
    const { body, notes } = profileBody(p.profile, input.profileKeys, input.skipKeys);
    const wanted = slugify(typeof p.profile['profile_name'] === 'string' ? p.profile['profile_name'] : '');
    const name = preferred ?? uniqueName(wanted, profileNames);
    profileNames.add(name);
    const assignmentName = uniqueName(name, assignmentNames);
    assignmentNames.add(assignmentName);
    const csv = serials.length > input.csvThreshold;
    const adopted: AdoptedProfile = {
      uuid: p.uuid,
      name,
      assignmentName,
      wantedName: name === wanted || preferred ? null : wanted,
      body,
      serials,
      yamlFile: `${name}.yaml`,
      csvFile: csv ? `${name}.csv` : null,
      notes,
    };
    out.profiles.push(adopted);
    out.files.set(adopted.yamlFile, renderYaml(input, adopted));
    if (adopted.csvFile) out.files.set(adopted.csvFile, `${CSV_HEADER}\n${serials.join('\n')}\n`);
  }
  out.profiles.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

/** The YAML file of one adopted profile: a header comment, the EnrollmentProfile and its Assignment. */
function renderYaml(input: AdoptInput, p: AdoptedProfile): string {
  const header = [
    `${IMPORT_MARKER} from MdmServer "${input.server}" at ${input.importedAt.toISOString()}.`,
    `# Apple profile UUID ${p.uuid}, carried by ${p.serials.length} device(s) when imported.`,
    `# depctl recorded this content as already defined with that UUID: after committing, \`depctl plan\` shows no changes.`,
    ...p.notes.map((n) => `# Left out of Apple's answer: ${n}`),
  ];
  const profileDoc = { apiVersion: 'depctl/v1', kind: 'EnrollmentProfile', metadata: { name: p.name }, spec: { servers: [input.server], profile: p.body } };
  const assignmentSpec: Record<string, unknown> = { profile: p.name };
  if (p.csvFile) assignmentSpec['serialFiles'] = [p.csvFile];
  else assignmentSpec['serials'] = p.serials;
  const assignmentDoc = { apiVersion: 'depctl/v1', kind: 'Assignment', metadata: { name: p.assignmentName }, spec: assignmentSpec };
  const opts = { lineWidth: 0 } as const;
  return `${header.join('\n')}\n${stringify(profileDoc, opts)}---\n${stringify(assignmentDoc, opts)}`;
}

/** Reads the profile keys and their types from the enrollment-profile schema's `$defs.Profile`. */
export function profileKeysFromSchema(schema: Readonly<Record<string, unknown>>): Map<string, ProfileKeyType> {
  const defs = schema['$defs'] as Record<string, { properties?: Record<string, { type?: string; oneOf?: { type?: string }[]; items?: { type?: string; $ref?: string } }> }> | undefined;
  const props = defs?.['Profile']?.properties;
  if (!props) throw new Error('enrollment-profile schema has no $defs.Profile.properties');
  const keys = new Map<string, ProfileKeyType>();
  for (const [key, def] of Object.entries(props)) {
    // `url` is a string or `{ enrollment }` (a depctl form Apple never returns): Apple's answer holds the string.
    const type = def.type ?? def.oneOf?.find((o) => o.type === 'string')?.type;
    if (type === 'string') keys.set(key, 'string');
    else if (type === 'boolean') keys.set(key, 'boolean');
    else if (type === 'array') keys.set(key, 'string-array');
  }
  return keys;
}
