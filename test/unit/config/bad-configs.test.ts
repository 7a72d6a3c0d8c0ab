import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';
import { makeConfigDir } from '../../helpers/config-dir.js';

const corpus = fileURLToPath(new URL('../../fixtures/bad-configs/', import.meta.url));
const base = readFileSync(join(corpus, '_base/base.yaml'), 'utf8');
const cases = readdirSync(corpus).filter((f) => f.endsWith('.yaml')).sort();

interface Expected {
  severity: string;
  code: string;
  line: number;
  column?: number;
  fragment: string;
}

/** Reads the `# <- severity[@col] code: fragment` and `#^ …` markers of a case file. */
function expectations(text: string): Expected[] {
  const out: Expected[] = [];
  text.split('\n').forEach((line, i) => {
    const m = /#(<-|\^) (error|warning)(?:@(\d+))? ([a-z-]+):? ?(.*)$/.exec(line.replace('# <-', '#<-'));
    if (!m) return;
    const [, kind, severity, col, code, fragment] = m;
    out.push({ severity: severity!, code: code!, line: kind === '^' ? i : i + 1, ...(col ? { column: Number(col) } : {}), fragment: fragment!.trim() });
  });
  return out;
}

describe('bad config corpus', () => {
  it('has at least 40 cases, each with an expectation', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    for (const c of cases) expect(expectations(readFileSync(join(corpus, c), 'utf8')), c).not.toHaveLength(0);
  });

  it.each(cases)('%s reports exactly the marked problems', async (name) => {
    const text = readFileSync(join(corpus, name), 'utf8');
    const { dir, cleanup } = await makeConfigDir({ 'base.yaml': base, 'case.yaml': text });
    try {
      const result = await loadConfig(dir, { now: new Date('2026-11-25T00:00:00Z') });
      const expected = expectations(text);
      const actual = result.problems.map((p) => ({ severity: p.severity, code: p.code, file: p.file, line: p.line, column: p.column, message: p.message }));
      // Every problem is on the case file (the base is valid), and the sets match one to one.
      expect(actual.map((p) => `${p.file}:${p.line} ${p.severity} ${p.code}`).sort()).toEqual(
        expected.map((e) => `case.yaml:${e.line} ${e.severity} ${e.code}`).sort(),
      );
      for (const e of expected) {
        const match = actual.find((p) => p.line === e.line && p.code === e.code && p.message.includes(e.fragment));
        expect(match, `${name}:${e.line} expected ${e.code} containing ${JSON.stringify(e.fragment)}; got ${JSON.stringify(actual)}`).toBeDefined();
        if (e.column !== undefined) expect(match?.column, `${name}:${e.line} column`).toBe(e.column);
      }
      expect(result.config === undefined).toBe(expected.some((e) => e.severity === 'error'));
    } finally {
      await cleanup();
    }
  });
});
