import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../controller/config/load.js';
import { defaultSchemas } from '../../controller/config/schemas.js';
import { fuzzParams } from '../helpers/fuzz.js';

// The config loader takes YAML from pull requests. Start from the shipped school example and mutate one
// file the way hands and hostile inputs do (characters YAML cares about, deleted and duplicated ranges,
// indentation shifts, serial file noise): loading never throws, every problem points at a file, line and
// column that exist, and the result is a config exactly when there is no error.

const example = join(import.meta.dirname, '..', '..', 'examples', 'school');
let root: string;
let files: string[];
const originals = new Map<string, string>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'depctl-fuzz-config-'));
  await cp(example, root, { recursive: true });
  files = (await readdir(root, { recursive: true })).filter((f) => /\.(ya?ml|csv|txt)$/.test(f)).sort();
  for (const f of files) originals.set(f, await readFile(join(root, f), 'utf8'));
  defaultSchemas();
});

afterAll(() => rm(root, { recursive: true, force: true }));

const yamlish = fc.constantFrom(':', '-', ' ', '\n', '\t', '#', '&a', '*a', '[', ']', '{', '}', '"', "'", '|', '>', '---', '!!str', '? ', ',', '\r\n', '\u00e9', '\u0000', '0x1F', 'null', 'C02ABC1234');
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), text: fc.array(yamlish, { minLength: 1, maxLength: 6 }).map((a) => a.join('')) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 80 }) }),
  fc.record({ kind: fc.constant('indent' as const), line: fc.nat(60), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ kind: fc.constant('random' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), text: fc.string({ maxLength: 12 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(text: string, m: Mutation): string {
  if (m.kind === 'indent') {
    const lines = text.split('\n');
    const i = m.line % Math.max(1, lines.length);
    const line = lines[i] ?? '';
    lines[i] = m.by >= 0 ? ' '.repeat(m.by) + line : line.replace(new RegExp(`^ {0,${-m.by}}`), '');
    return lines.join('\n');
  }
  const at = Math.floor(m.at * text.length);
  if (m.kind === 'insert' || m.kind === 'random') return text.slice(0, at) + m.text + text.slice(at);
  if (m.kind === 'delete') return text.slice(0, at) + text.slice(at + m.length);
  return text.slice(0, at + m.length) + text.slice(at, at + m.length) + text.slice(at + m.length);
}

describe('config loader, fuzzed', () => {
  it('never throws on a mutated example, and every problem has a real location', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 5 }), async (pick, mutations) => {
        const file = files[pick % files.length] as string;
        const original = originals.get(file) as string;
        const mutated = mutations.reduce(apply, original);
        await writeFile(join(root, file), mutated);
        try {
          const result = await loadConfig(root, { now: new Date('2026-12-01T00:00:00Z') });
          expect(result.config === undefined).toBe(result.errorCount > 0);
          for (const p of result.problems) {
            expect(typeof p.file).toBe('string');
            expect(p.line).toBeGreaterThanOrEqual(1);
            expect(p.column).toBeGreaterThanOrEqual(1);
            expect(p.message.length).toBeGreaterThan(0);
            if (p.file === file) expect(p.line).toBeLessThanOrEqual(mutated.split('\n').length + 1);
          }
        } finally {
          await writeFile(join(root, file), original);
        }
      }),
      fuzzParams('config loader mutations', 60),
    );
  });
});
