/**
 * The decisions `depctl import` makes around the document builder (adopt.ts): what the existing config
 * already claims, which profiles the state store forbids adopting, which profiles are dropped until the
 * documents validate, and the store records that make `depctl plan` show no changes once the files are
 * committed. Validation is the caller's (it loads a scratch copy of the config directory); so is writing.
 */
import type { LoadResult } from '../config/load.js';
import type { Problem } from '../config/problems.js';
import type { DepConfig, EnrollmentProfile } from '../config/types.js';
import { buildAdoption, type AdoptedProfile, type AdoptInput, type Adoption, type ForeignProfile } from './adopt.js';
import { toAppleProfile } from './apply.js';
import type { KnownProfile } from './diff.js';
import type { DefineStore } from './ports.js';
import { profileContentHash } from './profile-content.js';


/** What the existing configuration already uses, so the imported documents do not clash with it. */
export type ConfigClaims = Pick<AdoptInput, 'takenProfileNames' | 'takenAssignmentNames' | 'listedSerials'>;

/**
 * The names and serials `config` claims: every profile and assignment name (names are global across
 * servers) and every serial an assignment lists (with the assignment listing it), whatever its server.
 */
export function configClaims(config: Pick<DepConfig, 'profiles' | 'assignments'>): ConfigClaims {
  const listedSerials = new Map<string, string>();
  for (const a of config.assignments) for (const s of a.serials) listedSerials.set(s, a.name);
  return {
    takenProfileNames: new Set(config.profiles.map((p) => p.name)),
    takenAssignmentNames: new Set(config.assignments.map((a) => a.name)),
    listedSerials,
  };
}

/**
 * Why the state store forbids recording `profile` as defined, or undefined when it does not: the store
 * already records its UUID under another name or content, or records its name and content under another
 * UUID (or a pending define). Recording it anyway would make two records disagree about one profile.
 */
export function storeClash(profile: Pick<AdoptedProfile, 'uuid' | 'name' | 'body'>, known: readonly KnownProfile[]): string | undefined {
  const hash = profileContentHash(profile.body);
  const clash = known.find(
    (k) => (k.uuid === profile.uuid && (k.name !== profile.name || k.contentHash !== hash)) || (k.uuid !== profile.uuid && k.name === profile.name && k.contentHash === hash),
  );
  if (!clash) return undefined;
  const which = clash.uuid === profile.uuid ? 'this UUID' : `UUID ${clash.uuid ?? '(pending)'}`;
  return `the state store already records ${which} as profile "${clash.name}" with other content or another UUID`;
}

/** The most rounds spent dropping profiles that do not validate before giving up. */
export const MAX_VALIDATION_ROUNDS = 5;

/** Everything {@link selectAdoption} needs. */
export interface SelectAdoptionInput {
  /** The builder's input without the profiles. */
  base: Omit<AdoptInput, 'profiles'>;
  foreign: readonly ForeignProfile[];
  /** Every record the store holds for the server (both states). */
  known: readonly KnownProfile[];
  /** Where the documents go, relative to the config directory (problem files are relative to it too). */
  outRel: string;
  /** Loads the existing config together with the documents (file name → content, relative to `outRel`). */
  validate(files: ReadonlyMap<string, string>): Promise<LoadResult>;
}

/** The outcome of {@link selectAdoption}; `dropped` maps each profile UUID left out to the reason. */
export type AdoptionSelection =
  | { kind: 'nothing'; adoption: Adoption; dropped: Map<string, string> }
  | { kind: 'valid'; adoption: Adoption; dropped: Map<string, string>; loaded: LoadResult }
  | { kind: 'invalid'; dropped: Map<string, string>; loaded: LoadResult; errors: Problem[] };

/**
 * Builds the documents and drops, round by round, the profiles that cannot be adopted: those the store
 * forbids ({@link storeClash}) and those whose own file has a validation error. Dropping one profile can
 * change the names of others (a freed name), so each round rebuilds. Ends `invalid` when an error is in
 * no file of the import (the existing config rejects it) or after {@link MAX_VALIDATION_ROUNDS} rounds.
 */
export async function selectAdoption(input: SelectAdoptionInput): Promise<AdoptionSelection> {
  const dropped = new Map<string, string>();
  const ours = (file: string): string | undefined => (file.startsWith(`${input.outRel}/`) ? file.slice(input.outRel.length + 1) : undefined);
  for (let round = 0; ; round++) {
    const adoption = buildAdoption({ ...input.base, profiles: input.foreign.filter((f) => !dropped.has(f.uuid)) });
    for (const p of adoption.profiles) {
      const why = storeClash(p, input.known);
      if (why) dropped.set(p.uuid, why);
    }
    if (adoption.profiles.some((p) => dropped.has(p.uuid))) continue;
    if (adoption.profiles.length === 0) return { kind: 'nothing', adoption, dropped };
    const loaded = await input.validate(adoption.files);
    const errors = loaded.problems.filter((p) => p.severity === 'error');
    if (errors.length === 0) return { kind: 'valid', adoption, dropped, loaded };
    for (const e of errors) {
      const file = ours(e.file);
      const owner = file === undefined ? undefined : adoption.profiles.find((p) => p.yamlFile === file || p.csvFile === file);
      if (!owner || round >= MAX_VALIDATION_ROUNDS) return { kind: 'invalid', dropped, loaded, errors };
      if (!dropped.has(owner.uuid)) dropped.set(owner.uuid, `does not validate: ${e.message}`);
    }
  }
}

/**
 * Records each adopted profile as defined with its existing Apple UUID, under the hash of its body as the
 * config loader read it back (`loaded`: the validated profiles), so plan finds the content already defined.
 * Returns the names recorded.
 */
export async function recordAdoption(
  store: DefineStore,
  input: { server: string; adopted: readonly Pick<AdoptedProfile, 'name' | 'uuid'>[]; loaded: readonly Pick<EnrollmentProfile, 'name' | 'profile'>[]; now: () => Date },
): Promise<string[]> {
  const done: string[] = [];
  for (const p of input.adopted) {
    const profile = input.loaded.find((q) => q.name === p.name);
    if (!profile) throw new Error(`profile "${p.name}" is missing from the validated result`);
    const key = { server: input.server, name: p.name, contentHash: profileContentHash(profile.profile as Record<string, unknown>) };
    const { profile: rec } = await store.beginDefine({ ...key, body: toAppleProfile(profile.profile), at: input.now() });
    // A re-import of the same content finds the record already complete; anything else is completed now.
    if (rec.state !== 'defined' || rec.uuid !== p.uuid) await store.completeDefine(key, p.uuid, input.now());
    done.push(p.name);
  }
  return done;
}
