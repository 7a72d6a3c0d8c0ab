import { isMap, isSeq, type Document } from 'yaml';
import type { ErrorObject } from 'ajv/dist/2020.js';
import type { ProblemSink, ProblemCode } from './problems.js';
import type { SourceFile } from './source.js';
import { dottedPath, findNode, nodeOffset, pointerSegments } from './yaml-nodes.js';
import { didYouMean } from './suggest.js';

/** Everything needed to turn ajv errors on one document into located problems. */
export interface SchemaErrorContext {
  doc: Document;
  source: SourceFile;
  value: unknown;
  sink: ProblemSink;
}

/** Hints for keys that are not allowed, keyed by property name. */
const KEY_HINTS: Record<string, string> = {
  devices: 'profiles carry no devices here: list serials in an Assignment document',
  profile_uuid: 'Apple assigns profile UUIDs; depctl tracks them in its store',
  name: 'the name belongs in metadata.name',
  supervised: 'Apple\'s key is "is_supervised"',
  mdm_removable: 'Apple\'s key is "is_mdm_removable"',
  mandatory: 'Apple\'s key is "is_mandatory"',
  multi_user: 'Apple\'s key is "is_multi_user"',
  return_to_service: 'Apple\'s key is "is_return_to_service"',
};

/**
 * Converts ajv's errors into problems at the YAML positions they refer to, with messages written for
 * admins: unknown keys with "did you mean", enums listing the allowed values, one message per failed
 * `anyOf`/`oneOf` instead of one per branch.
 */
export function reportSchemaErrors(errors: readonly ErrorObject[], ctx: SchemaErrorContext): void {
  const alternatives = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  // When the value's type fits exactly one branch (a url string vs `{ enrollment }`), that branch's own errors
  // say what is wrong ("not a valid uri"), not "does not match any allowed form".
  const chosen = new Map<ErrorObject, string>();
  for (const a of alternatives) {
    const i = branchByType(a, valueAt(ctx.value, pointerSegments(a.instancePath)));
    if (i !== undefined) chosen.set(a, `${a.schemaPath}/${i}/`);
  }
  const isBranchError = (e: ErrorObject): boolean =>
    alternatives.some((a) => a !== e && e.schemaPath.startsWith(`${a.schemaPath}/`) && e.instancePath.startsWith(a.instancePath) && !e.schemaPath.startsWith(chosen.get(a) ?? '\0'));
  // One problem per value: a too-long "english" fails both pattern and maxLength; the first says enough.
  // Errors about child keys (unknown or missing keys) are distinct and all kept.
  const kept = errors.filter((e) => !isBranchError(e) && !chosen.has(e));
  const best = new Map<string, ErrorObject>();
  for (const e of kept) {
    if (e.keyword === 'additionalProperties' || e.keyword === 'required') continue;
    const current = best.get(e.instancePath);
    if (!current || rank(e.keyword) < rank(current.keyword)) best.set(e.instancePath, e);
  }
  for (const e of kept) {
    const perKey = e.keyword === 'additionalProperties' || e.keyword === 'required';
    if (perKey || best.get(e.instancePath) === e) report(e, ctx);
  }
}

/** The index of the only `oneOf`/`anyOf` branch whose `type` is the value's JSON type, if exactly one is. */
function branchByType(e: ErrorObject, value: unknown): number | undefined {
  const branches = ((e.parentSchema as Record<string, unknown> | undefined)?.[e.keyword] as { type?: unknown }[] | undefined) ?? [];
  const t = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'number' ? 'number' : typeof value;
  const fits = branches.flatMap((b, i) => (b.type === t || (t === 'number' && b.type === 'integer') ? [i] : []));
  return fits.length === 1 ? fits[0] : undefined;
}

/** Which error about one value says the most: its type first, then its form, then its length. */
const KEYWORD_RANK = ['type', 'const', 'enum', 'anyOf', 'oneOf', 'pattern', 'format', 'minLength', 'maxLength'];
function rank(keyword: string): number {
  const i = KEYWORD_RANK.indexOf(keyword);
  return i === -1 ? KEYWORD_RANK.length : i;
}

function report(e: ErrorObject, ctx: SchemaErrorContext): void {
  const segments = pointerSegments(e.instancePath);
  const where = dottedPath(segments) || 'document';
  const value = valueAt(ctx.value, segments);
  const found = findNode(ctx.doc, segments);
  // A problem about a whole mapping or list is shown at its key (`spec:`), not at its first child.
  const target = found.node && (isMap(found.node) || isSeq(found.node)) && found.key ? found.key : (found.node ?? found.deepest);
  const at = (node = target): ReturnType<SourceFile['loc']> => ctx.source.loc(nodeOffset(node));
  const err = (code: ProblemCode, message: string, loc = at()): void => ctx.sink.error(code, loc, message);

  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const keyNode = findNode(ctx.doc, [...segments, prop]).key;
      const hint = KEY_HINTS[prop] ? ` (${KEY_HINTS[prop]})` : didYouMean(prop, allowed);
      // defaultProfiles is keyed by Apple's device_family values: name them all, not only the nearest.
      const families = segments[segments.length - 1] === 'defaultProfiles' ? `; keys are the device families DEP reports: ${allowed.join(', ')}` : '';
      err('unknown-key', `${where}: unknown key "${prop}"${hint}${families}`, at(keyNode));
      return;
    }
    case 'required': {
      const prop = String((e.params as { missingProperty: string }).missingProperty);
      err('missing-key', `${where}: missing required key "${prop}"`);
      return;
    }
    case 'type':
      err('schema', `${where}: must be ${article(String((e.params as { type: string }).type))}, got ${describe(value)}`);
      return;
    case 'enum': {
      // A skip_setup_items item may be any string; only a non-string fails (the SkipKey enum branch of
      // its anyOf reports it, ranked above the anyOf itself). SkipKey findings are warnings: skip-keys.ts.
      if (segments.includes('skip_setup_items')) {
        err('schema', `${where}: must be a string, got ${describe(value)}`);
        return;
      }
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const list = allowed.length <= 12 ? `one of ${allowed.join(', ')}` : `one of ${allowed.length} allowed values`;
      err('schema', `${where}: ${describe(value)} is not allowed; must be ${list}${typeof value === 'string' ? didYouMean(value, allowed) : ''}`);
      return;
    }
    case 'const':
      err('schema', `${where}: must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, got ${describe(value)}`);
      return;
    case 'minLength':
      if ((e.params as { limit: number }).limit === 1) {
        err('empty-string', `${where}: must not be empty (Apple rejects empty strings; leave the key out instead)`);
      } else err('schema', `${where}: is too short`);
      return;
    case 'maxLength': {
      const limit = (e.params as { limit: number }).limit;
      const len = typeof value === 'string' ? [...value].length : 0;
      err('schema', `${where}: is ${len} characters long; at most ${limit} are allowed`);
      return;
    }
    case 'pattern':
      err(patternCode(where), `${where}: ${patternMessage(where, value, (e.params as { pattern: string }).pattern)}`);
      return;
    case 'format':
      err('schema', `${where}: ${describe(value)} is not a valid ${(e.params as { format: string }).format}`);
      return;
    case 'uniqueItems': {
      const { i, j } = e.params as { i: number; j: number };
      const [first, later] = [Math.min(i, j), Math.max(i, j)];
      err('schema', `${where}: item ${later} repeats item ${first} (${describe(Array.isArray(value) ? value[later] : undefined)})`, at(findNode(ctx.doc, [...segments, later]).node));
      return;
    }
    case 'minItems':
      err('schema', `${where}: must list at least ${(e.params as { limit: number }).limit} item(s)`);
      return;
    case 'maxItems':
      err('schema', `${where}: lists too many items (at most ${(e.params as { limit: number }).limit})`);
      return;
    case 'minProperties':
      err('schema', `${where}: must set at least ${(e.params as { limit: number }).limit} key(s)`);
      return;
    case 'minimum':
    case 'maximum':
      err('schema', `${where}: ${describe(value)} ${e.message ?? 'is out of range'}`);
      return;
    case 'anyOf':
    case 'oneOf':
      reportAlternatives(e, where, value, err, ctx);
      return;
    default:
      err('schema', `${where}: ${e.message ?? 'is invalid'}`);
  }
}

function reportAlternatives(
  e: ErrorObject,
  where: string,
  value: unknown,
  err: (code: ProblemCode, message: string) => void,
  ctx: SchemaErrorContext,
): void {
  const parent = e.parentSchema as Record<string, unknown> | undefined;
  if (parent?.['x-depctl-secret'] === true) {
    const inline = typeof value === 'string' ? ' (secrets are never written inline in the config repository)' : '';
    return err('secret-ref', `${where}: must be { file: PATH } (relative to the secrets directory) or { env: NAME }${inline}`);
  }
  // anyOf of `required` branches: "at least one of these keys".
  const branches = (parent?.[e.keyword] as { required?: string[] }[] | undefined) ?? [];
  const keys = branches.flatMap((b) => b.required ?? []);
  if (branches.length > 0 && keys.length === branches.length) {
    const kind = ctx.value && typeof ctx.value === 'object' ? String((ctx.value as Record<string, unknown>)['kind']) : 'document';
    return err('missing-key', `${where}: an ${kind} needs at least one of ${keys.slice(0, -1).join(', ')} or ${keys[keys.length - 1] ?? ''}`);
  }
  err('schema', `${where}: does not match any allowed form`);
}

function patternCode(where: string): ProblemCode {
  if (where.endsWith('language')) return 'language-code';
  if (where.endsWith('region')) return 'region-code';
  return 'schema';
}

function patternMessage(where: string, value: unknown, pattern: string): string {
  if (where.endsWith('depUrl')) return `${describe(value)} must be an http(s):// URL`;
  if (where.endsWith('language')) return `${describe(value)} must be an ISO 639 language code in lower case, e.g. "en" or "fr"`;
  if (where.endsWith('region')) return `${describe(value)} must be an ISO 3166-1 alpha-2 region code in upper case, e.g. "US" or "FR"`;
  if (pattern.startsWith('^[a-z0-9]([a-z0-9-]*')) {
    return `${describe(value)} must be a lower-case name of letters, digits and "-", starting and ending with a letter or digit`;
  }
  if (where.endsWith('.env')) return `${describe(value)} must be an environment variable name`;
  return `${describe(value)} does not match ${pattern}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type === 'array' ? 'list' : type === 'object' ? 'mapping' : type}`;
}

/** Describes a value for a message: its type and, when short, the value itself. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return value.length > 60 ? `"${value.slice(0, 57)}..."` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

function valueAt(root: unknown, segments: readonly string[]): unknown {
  let v = root;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[s];
  }
  return v;
}
