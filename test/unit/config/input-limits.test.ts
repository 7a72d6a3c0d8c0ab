import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';
import { countDocumentMarkers, DEFAULT_INPUT_LIMITS, findExcessiveNesting, inputLimits, inputLimitsFromEnv, parseInputLimit } from '../../../controller/config/limits.js';
import { makeConfigDir } from '../../helpers/config-dir.js';
import { ipadsYaml, MAIN_SERVER_YAML } from '../../helpers/config-yaml.js';

// Each hostile input a pull request could carry gets a clear `input-limit` (or size) problem at a location,
// without a stack overflow or the memory of the whole input: the config repository is untrusted input.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function dirWith(files: Record<string, string>): Promise<string> {
  const { dir, cleanup } = await makeConfigDir(files);
  cleanups.push(cleanup);
  return dir;
}

function profileDoc(i: number): string {
  return `---\napiVersion: depctl/v1\nkind: EnrollmentProfile\nmetadata: { name: p${i} }\nspec:\n  servers: [main]\n  profile: { profile_name: P${i}, url: "https://mdm.example.com/enroll" }\n`;
}

describe('input limits (operator settings, never from the configuration)', () => {
  it('parses NAME=VALUE with sizes and refuses unknown names, counts with units and zero', () => {
    expect(parseInputLimit('documents=20000')).toEqual(['documents', 20000]);
    expect(parseInputLimit('yamlFileBytes=2MiB')).toEqual(['yamlFileBytes', 2 * 1024 * 1024]);
    expect(parseInputLimit(' Depth = 8 ')).toEqual(['depth', 8]);
    expect(() => parseInputLimit('colour=3')).toThrow(/unknown input limit "colour"/);
    expect(() => parseInputLimit('documents=2MiB')).toThrow(/is a count/);
    expect(() => parseInputLimit('depth=0')).toThrow(/at least 1/);
    expect(() => parseInputLimit('depth')).toThrow(/NAME=VALUE/);
    expect(inputLimits(inputLimitsFromEnv('depth=8, serials=10'))).toEqual({ ...DEFAULT_INPUT_LIMITS, depth: 8, serials: 10 });
  });

  it('refuses 100,000 nested flow collections before the YAML parser recurses into them', async () => {
    const text = `apiVersion: depctl/v1\nkind: EnrollmentProfile\nmetadata: { name: x }\nspec: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
    const dir = await dirWith({ 'deep.yaml': text });
    const r = await loadConfig(dir);
    expect(r.config).toBeUndefined();
    expect(r.problems).toEqual([
      expect.objectContaining({ code: 'input-limit', file: 'deep.yaml', line: 4, column: 7 + DEFAULT_INPUT_LIMITS.depth - 1, message: expect.stringContaining(`more than ${DEFAULT_INPUT_LIMITS.depth} levels deep`) }),
    ]);
  });

  it('refuses deep block nesting too, and never counts brackets inside strings, comments or plain scalars', async () => {
    const block = `a:\n${Array.from({ length: 40 }, (_, i) => `${' '.repeat(i + 1)}k${i}:\n`).join('')}`;
    expect(findExcessiveNesting(block, 32)).toEqual({ offset: expect.any(Number), depth: 33 });
    const harmless = [
      `k: "${'['.repeat(100)}"`,
      `k: '${'{'.repeat(100)}'`,
      `# ${'['.repeat(100)}`,
      `url: https://example.com/${'['.repeat(100)}`,
      `text: |\n  ${'['.repeat(100)}\n  more`,
      `list: [a, "b]", [c, {d: e}]]`,
    ].join('\n');
    expect(findExcessiveNesting(harmless, 4)).toBeUndefined();
    expect(findExcessiveNesting(`k: [[[[[x]]]]]`, 4)).toEqual({ offset: 6, depth: 5 });
  });

  it('stops at the documents limit with the file that passed it', async () => {
    const docs = Array.from({ length: 10_000 }, (_, i) => profileDoc(i)).join('');
    expect(countDocumentMarkers(docs)).toBe(10_000);
    const dir = await dirWith({ 'server.yaml': MAIN_SERVER_YAML, 'profiles.yaml': docs });
    const r = await loadConfig(dir);
    expect(r.config).toBeUndefined();
    expect(r.problems.filter((p) => p.code === 'input-limit')).toEqual([
      expect.objectContaining({ file: 'profiles.yaml', line: 1, message: expect.stringContaining(`more than ${DEFAULT_INPUT_LIMITS.documents} documents`) }),
    ]);
  });

  it('loads past the default when the operator raises the documents limit, and stops at a lowered one', async () => {
    const docs = Array.from({ length: 60 }, (_, i) => profileDoc(i)).join('');
    const dir = await dirWith({ 'server.yaml': MAIN_SERVER_YAML, 'profiles.yaml': docs });
    const lowered = await loadConfig(dir, { limits: inputLimits(['documents=50']) });
    expect(lowered.problems.filter((p) => p.code === 'input-limit')).toEqual([expect.objectContaining({ message: expect.stringContaining('more than 50 documents') })]);
    const raised = await loadConfig(dir, { limits: inputLimits(['documents=61']) });
    expect(raised.problems.filter((p) => p.code === 'input-limit')).toEqual([]);
    expect(raised.stats.documents.EnrollmentProfile).toBe(60);
  });

  it('refuses a 100 MB YAML document by its size, before reading it', async () => {
    const dir = await dirWith({ 'server.yaml': MAIN_SERVER_YAML });
    await writeFile(join(dir, 'huge.yaml'), Buffer.alloc(100 * 1024 * 1024, 'a'));
    const r = await loadConfig(dir);
    expect(r.config).toBeUndefined();
    expect(r.problems).toEqual([expect.objectContaining({ code: 'file-too-large', file: 'huge.yaml', message: expect.stringMatching(/over the limit of 16(\.0)? MiB/) })]);
  });

  it('stops reading serials at the serials limit, with the assignment that passed it', async () => {
    const lines = Array.from({ length: 1_000_000 }, (_, i) => `C${String(i).padStart(9, '0')}ZZ`).join('\n');
    const dir = await dirWith({
      'server.yaml': MAIN_SERVER_YAML,
      'profile.yaml': ipadsYaml().split('---')[0] as string,
      'fleet.yaml': 'apiVersion: depctl/v1\nkind: Assignment\nmetadata: { name: fleet }\nspec:\n  profile: ipads\n  serialFiles: [fleet.txt]\n',
      'fleet.txt': lines,
    });
    const r = await loadConfig(dir, { limits: inputLimits(['serials=100000']) });
    expect(r.config).toBeUndefined();
    expect(r.problems.filter((p) => p.code === 'input-limit')).toEqual([
      expect.objectContaining({ file: 'fleet.yaml', message: expect.stringContaining('more than 100,000 serial numbers') }),
    ]);
  });

  it('refuses a serial file over its size limit and counts every file against the total', async () => {
    const dir = await dirWith({
      'server.yaml': MAIN_SERVER_YAML,
      'profile.yaml': ipadsYaml().split('---')[0] as string,
      'fleet.yaml': 'apiVersion: depctl/v1\nkind: Assignment\nmetadata: { name: fleet }\nspec:\n  profile: ipads\n  serialFiles: [fleet.txt]\n',
      'fleet.txt': 'C02ABC1234\n'.repeat(2000),
    });
    const small = await loadConfig(dir, { limits: inputLimits(['serialFileBytes=10KiB']) });
    expect(small.problems).toEqual([expect.objectContaining({ code: 'file-too-large', file: 'fleet.txt' })]);
    const total = await loadConfig(dir, { limits: inputLimits(['totalBytes=1KiB']) });
    expect(total.config).toBeUndefined();
    expect(total.problems.some((p) => p.code === 'file-too-large')).toBe(true);
  });

  it('refuses more YAML files than the files limit without reading any', async () => {
    const files: Record<string, string> = { 'server.yaml': MAIN_SERVER_YAML };
    for (let i = 0; i < 11; i++) files[`p${i}.yaml`] = profileDoc(i);
    const dir = await dirWith(files);
    const r = await loadConfig(dir, { limits: inputLimits(['files=10']) });
    expect(r.problems).toEqual([expect.objectContaining({ code: 'input-limit', message: expect.stringContaining('12 YAML files, over the limit of 10') })]);
    expect(r.stats.documents.EnrollmentProfile).toBe(0);
  });

  it('stops when loading runs past its time limit (manual clock)', async () => {
    const files: Record<string, string> = { 'a-server.yaml': MAIN_SERVER_YAML };
    for (let i = 0; i < 5; i++) files[`p${i}.yaml`] = profileDoc(i);
    const dir = await dirWith(files);
    let now = 0;
    const clock = (): number => {
      now += 400; // each check costs 400 ms of the manual clock
      return now;
    };
    const r = await loadConfig(dir, { limits: inputLimits(['loadMs=1000']), clock });
    expect(r.config).toBeUndefined();
    expect(r.problems).toEqual([expect.objectContaining({ code: 'input-limit', message: expect.stringContaining('took more than 1 s') })]);
  });
});
