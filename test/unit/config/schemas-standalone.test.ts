import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';
import { compileSchemas, loadStandaloneSchemas, readSchemaFiles, type CompiledSchemas, type SchemaFiles } from '../../../controller/config/schemas.js';
import { makeConfigDir } from '../../helpers/config-dir.js';

// The validators `npm run build` generates (controller/build-schemas.ts) must report exactly what the
// run-time compile reports: same ajv errors, hence the same problems, on the whole bad-config corpus.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const built = join(root, 'dist/config/schema-validators.cjs');
const corpus = join(root, 'test/fixtures/bad-configs');
const base = readFileSync(join(corpus, '_base/base.yaml'), 'utf8');
const cases = readdirSync(corpus).filter((f) => f.endsWith('.yaml')).sort();
const now = new Date('2026-11-25T00:00:00Z');

describe('standalone schema validators (generated at build)', () => {
  const files = readSchemaFiles();
  const runtime = compileSchemas(files);
  const standalone = (): CompiledSchemas => {
    expect(existsSync(built), 'run `npm run build` first').toBe(true);
    const s = loadStandaloneSchemas(files, built);
    expect(s, 'dist/config/schema-validators.cjs was generated from other schemas: run `npm run build`').toBeDefined();
    return s!;
  };

  it('are ignored when generated from other schemas than those on disk', () => {
    standalone();
    const edited: SchemaFiles = { ...files, 'assignment.schema.json': { ...files['assignment.schema.json'], description: 'edited' } };
    expect(loadStandaloneSchemas(edited, built)).toBeUndefined();
    expect(loadStandaloneSchemas(files, join(root, 'dist/config/no-such-file.cjs'))).toBeUndefined();
  });

  it.each(cases)('%s: the same problems as the run-time compile', async (name) => {
    const generated = standalone();
    const { dir, cleanup } = await makeConfigDir({ 'base.yaml': base, 'case.yaml': readFileSync(join(corpus, name), 'utf8') });
    try {
      const a = await loadConfig(dir, { now, schemas: runtime });
      const b = await loadConfig(dir, { now, schemas: generated });
      expect(b.problems).toEqual(a.problems);
      expect(b.config).toEqual(a.config);
    } finally {
      await cleanup();
    }
  });

  it('the same ajv errors (paths, keywords, params, parent schemas) on documents of every kind', () => {
    const generated = standalone();
    const docs: [keyof CompiledSchemas['validators'], unknown][] = [
      ['MdmServer', { apiVersion: 'depctl/v1', kind: 'MdmServer', metadata: { name: 'Bad Name' }, spec: { token: 5, depUrl: 'ftp://x', extra: 1 } }],
      ['EnrollmentProfile', { apiVersion: 'depctl/v1', kind: 'EnrollmentProfile', metadata: { name: 'p' }, spec: { servers: [], profile: { profile_name: 'x'.repeat(200), url: 'not a url', support_email_address: 'nope', skip_setup_items: [5] } } }],
      ['Assignment', { apiVersion: 'depctl/v2', kind: 'Assignment', metadata: {}, spec: { profile: 3, serials: ['a', 'a', 7] } }],
      ['Assignment', 'not an object'],
    ];
    for (const [kind, doc] of docs) {
      const okA = runtime.validators[kind](doc);
      const okB = generated.validators[kind](doc);
      expect(okB).toBe(okA);
      expect(okA).toBe(false);
      expect(generated.validators[kind].errors).toEqual(runtime.validators[kind].errors);
    }
  });
});
