import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default export is the module object, the plugin sits on `.default`.
type FormatsPlugin = typeof addFormatsModule.default;
const addFormats: FormatsPlugin =
  (addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? (addFormatsModule as unknown as FormatsPlugin);

/** The kinds of document a config repository may hold. */
export const KINDS = ['MdmServer', 'EnrollmentProfile', 'Assignment'] as const;
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

/** Validators compiled once from the schemas, one per kind. */
export interface CompiledSchemas {
  validators: Readonly<Record<Kind, ValidateFunction>>;
  /** The raw schema files, for metadata such as the SkipKeys lists. */
  files: SchemaFiles;
}

/** Compiles every schema with ajv in strict mode and allErrors (STYLE rule 8). Throws only on a broken schema. */
export function compileSchemas(files: SchemaFiles = readSchemaFiles()): CompiledSchemas {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: false, verbose: true });
  addFormats(ajv);
  // Vendor annotations used by depctl itself (secret marking); declared so that strict mode accepts them.
  ajv.addKeyword({ keyword: 'x-depctl-secret', schemaType: 'boolean' });
  for (const schema of Object.values(files)) ajv.addSchema(schema);
  const get = (file: string): ValidateFunction => {
    const id = files[file]?.['$id'];
    const fn = typeof id === 'string' ? ajv.getSchema(id) : undefined;
    if (!fn) throw new Error(`schema ${file} is missing or has no $id`);
    return fn;
  };
  return {
    validators: {
      MdmServer: get('mdm-server.schema.json'),
      EnrollmentProfile: get('enrollment-profile.schema.json'),
      Assignment: get('assignment.schema.json'),
    },
    files,
  };
}

export type { ErrorObject };

let cached: CompiledSchemas | undefined;
/** The compiled schemas of this package, compiled on first use. */
export function defaultSchemas(): CompiledSchemas {
  cached ??= compileSchemas();
  return cached;
}

/** Reads a string list from an `enum` at `$defs[name]` of a schema file (e.g. the SkipKeys lists). */
export function enumFromSchema(files: SchemaFiles, file: string, def: string): readonly string[] {
  const defs = files[file]?.['$defs'] as Record<string, { enum?: unknown[] }> | undefined;
  const values = defs?.[def]?.enum;
  if (!Array.isArray(values)) throw new Error(`${file} has no enum at $defs.${def}`);
  return values.map(String);
}
