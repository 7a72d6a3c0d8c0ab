import { enumFromSchema, type SchemaFiles } from './schemas.js';

/** Apple's SkipKeys as the enrollment-profile schema lists them (the schema is the single source). */
export interface SkipKeyCatalogue {
  current: readonly string[];
  deprecated: readonly string[];
  removed: readonly string[];
}

/** Reads the three SkipKeys lists from the enrollment-profile schema. */
export function skipKeyCatalogue(files: SchemaFiles): SkipKeyCatalogue {
  const file = 'enrollment-profile.schema.json';
  return {
    current: enumFromSchema(files, file, 'CurrentSkipKey'),
    deprecated: enumFromSchema(files, file, 'DeprecatedSkipKey'),
    removed: enumFromSchema(files, file, 'RemovedSkipKey'),
  };
}
