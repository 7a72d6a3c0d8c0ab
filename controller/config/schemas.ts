import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type * as Ajv2020Module from 'ajv/dist/2020.js';
import type { Ajv2020 as Ajv2020Type, ErrorObject, Options } from 'ajv/dist/2020.js';
import type addFormatsModule from 'ajv-formats';

// ajv and ajv-formats are CommonJS and take ~200 ms to load and compile the schemas; they are required only
// when a schema must be compiled at run time (tests, or a build without the standalone module), never by
// `--help` or by a validate that finds the module `npm run build` generated (issue item 4, start-up).
const require = createRequire(import.meta.url);

/** The kinds of document a config repository may hold. */
export const KINDS = ['MdmServer', 'EnrollmentProfile', 'Assignment', 'Enrollment', 'Credential', 'Organization'] as const;
/** One of the config kinds. */
export type Kind = (typeof KINDS)[number];

/** The `schemas/` folder of this package (two levels above both controller/config and dist/config). */
export const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** The JSON Schema documents, read from SCHEMA_DIR, keyed by file name. */
export type SchemaFiles = Readonly<Record<string, Record<string, unknown>>>;

/** Reads every `*.schema.json` in the schema directory. */
export function readSchemaFiles(dir: string = SCHEMA_DIR): SchemaFiles {
  const out: Record<string, Record<string, unknown>> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort()) {
    out[file] = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
  }
  return out;
}

/**
 * One compiled schema: ajv's validate function, or the same function from the standalone module. It sets
 * `errors` after a failed call (all of them: allErrors).
 */
export interface SchemaValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/** Validators compiled once from the schemas, one per kind. */
export interface CompiledSchemas {
  validators: Readonly<Record<Kind, SchemaValidator>>;
  /** The raw schema files, for metadata such as the SkipKeys lists. */
  files: SchemaFiles;
}

/** The schema file that validates each kind. */
export const KIND_SCHEMA_FILES: Readonly<Record<Kind, string>> = {
  MdmServer: 'mdm-server.schema.json',
  EnrollmentProfile: 'enrollment-profile.schema.json',
  Assignment: 'assignment.schema.json',
  Enrollment: 'enrollment.schema.json',
  Credential: 'credential.schema.json',
  Organization: 'organization.schema.json',
};

/**
 * The ajv options, shared by the run-time compile and the standalone module the build generates, so the two
 * report the same errors: strict mode and allErrors (STYLE rule 8), verbose for the `parentSchema` the
 * messages read. The formats come from ajv-formats (createAjv).
 */
export const AJV_OPTIONS: Readonly<Options> = { strict: true, allErrors: true, allowUnionTypes: false, verbose: true };

/**
 * An ajv instance with every schema added, not yet compiled; `extra` adds options such as
 * `code: { source: true }` for the standalone build.
 */
export function createAjv(files: SchemaFiles, extra: Options = {}): Ajv2020Type {
  const { Ajv2020 } = require('ajv/dist/2020.js') as typeof Ajv2020Module;
  // ajv-formats is CommonJS: its plugin is module.exports and also `.default`.
  const formats = require('ajv-formats') as typeof addFormatsModule & { default?: typeof addFormatsModule };
  const addFormats = formats.default ?? formats;
  const ajv = new Ajv2020({ ...AJV_OPTIONS, ...extra });
  addFormats(ajv);
  // Vendor annotations used by depctl itself (secret marking); declared so that strict mode accepts them.
  ajv.addKeyword({ keyword: 'x-depctl-secret', schemaType: 'boolean' });
  for (const schema of Object.values(files)) ajv.addSchema(schema);
  return ajv;
}

/** The `$id` of a schema file, which ajv and the standalone module know it by. */
export function schemaId(files: SchemaFiles, file: string): string {
  const id = files[file]?.['$id'];
  if (typeof id !== 'string') throw new Error(`schema ${file} is missing or has no $id`);
  return id;
}

/** Compiles every schema with ajv in strict mode and allErrors (STYLE rule 8). Throws only on a broken schema. */
export function compileSchemas(files: SchemaFiles = readSchemaFiles()): CompiledSchemas {
  const ajv = createAjv(files);
  const get = (kind: Kind): SchemaValidator => {
    const fn = ajv.getSchema(schemaId(files, KIND_SCHEMA_FILES[kind]));
    if (!fn) throw new Error(`schema ${KIND_SCHEMA_FILES[kind]} did not compile`);
    return fn;
  };
  return { validators: { MdmServer: get('MdmServer'), EnrollmentProfile: get('EnrollmentProfile'), Assignment: get('Assignment'), Enrollment: get('Enrollment'), Credential: get('Credential'), Organization: get('Organization') }, files };
}

/**
 * A digest of the schema files, written into the standalone module so that a module generated from other
 * schemas than those on disk (schemas edited after the build) is never used.
 */
export function schemasDigest(files: SchemaFiles): string {
  return createHash('sha256').update(JSON.stringify(files)).digest('hex');
}

/** Where `npm run build` writes the standalone validators: next to this module in dist/config/. */
export const STANDALONE_FILE = fileURLToPath(new URL('./schema-validators.cjs', import.meta.url));

/** What the standalone module exports: one validate function per kind, and the digest of its schemas. */
interface StandaloneModule extends Record<Kind, SchemaValidator> {
  schemasDigest: string;
}

/**
 * The validators from a standalone module generated at build time (ajv standalone code, build-schemas.ts),
 * or undefined when there is none or it was generated from other schemas than `files`.
 */
export function loadStandaloneSchemas(files: SchemaFiles, file: string = STANDALONE_FILE): CompiledSchemas | undefined {
  if (!existsSync(file)) return undefined;
  const mod = require(file) as StandaloneModule;
  if (mod.schemasDigest !== schemasDigest(files)) return undefined;
  return { validators: { MdmServer: mod.MdmServer, EnrollmentProfile: mod.EnrollmentProfile, Assignment: mod.Assignment, Enrollment: mod.Enrollment, Credential: mod.Credential, Organization: mod.Organization }, files };
}

export type { ErrorObject };

let cached: CompiledSchemas | undefined;
/**
 * The compiled schemas of this package: the standalone module the build generated when it matches the
 * schema files, else compiled now (from the sources, or after a schema was edited without a rebuild).
 */
export function defaultSchemas(): CompiledSchemas {
  if (!cached) {
    const files = readSchemaFiles();
    cached = loadStandaloneSchemas(files) ?? compileSchemas(files);
  }
  return cached;
}

/** Reads a string list from an `enum` at `$defs[name]` of a schema file (e.g. the SkipKeys lists). */
export function enumFromSchema(files: SchemaFiles, file: string, def: string): readonly string[] {
  const defs = files[file]?.['$defs'] as Record<string, { enum?: unknown[] }> | undefined;
  const values = defs?.[def]?.enum;
  if (!Array.isArray(values)) throw new Error(`${file} has no enum at $defs.${def}`);
  return values.map(String);
}
