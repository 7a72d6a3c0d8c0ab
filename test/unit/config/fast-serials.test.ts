import { describe, expect, it } from 'vitest';
import { extractLongSerialLists, FAST_PATH_MIN_ITEMS } from '../../../controller/config/fast-serials.js';
import { loadConfig } from '../../../controller/config/load.js';
import { makeConfigDir } from '../../helpers/config-dir.js';

const head = `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: t.p7m }
  privateKey: { file: k.pem }
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [paris]
  profile: { profile_name: iPads, url: "https://mdm.example.com/enroll" }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: big }
spec:
  profile: ipads
  serials:
`;
const headLines = head.split('\n').length - 1;
const serial = (i: number): string => `C02${i.toString(36).toUpperCase().padStart(9, '0')}`;
const list = (n: number, edit: (i: number, line: string) => string = (_, l) => l): string =>
  Array.from({ length: n }, (_, i) => edit(i, `    - ${serial(i)}`)).join('\n');

describe('fast path for long inline serial lists', () => {
  it('extracts a long plain list and keeps every offset in place', () => {
    const text = `${head}${list(FAST_PATH_MIN_ITEMS)}\n`;
    const x = extractLongSerialLists(text);
    expect(x.lists).toHaveLength(1);
    expect(x.text).toHaveLength(text.length);
    const item = x.lists[0]!.items[7]!;
    expect(text.slice(item.offset, item.offset + item.raw.length)).toBe(serial(7));
  });

  it('leaves short lists and lists with numbers or quotes to the YAML parser', () => {
    expect(extractLongSerialLists(`${head}${list(FAST_PATH_MIN_ITEMS - 1)}\n`).lists).toHaveLength(0);
    expect(extractLongSerialLists(`${head}${list(FAST_PATH_MIN_ITEMS + 5, (i, l) => (i === 3 ? '    - 12345678' : l))}\n`).lists).toHaveLength(0);
    expect(extractLongSerialLists(`${head}${list(FAST_PATH_MIN_ITEMS + 5, (i, l) => (i === 3 ? `    - "${serial(i)}"` : l))}\n`).lists).toHaveLength(0);
  });

  it('reports bad and duplicate serials at the same places as the normal path would', async () => {
    const n = FAST_PATH_MIN_ITEMS + 200;
    const body = list(n, (i, l) => (i === 10 ? '    - BAD' : i === 500 ? `    - ${serial(20).toLowerCase()}   # again` : l));
    const { dir, cleanup } = await makeConfigDir({ 'a.yaml': `${head}${body}\n` });
    try {
      const r = await loadConfig(dir);
      expect(r.problems.map((p) => `${p.line}:${p.column} ${p.severity} ${p.code}`)).toEqual([
        `${headLines + 11}:7 error serial-format`,
        `${headLines + 501}:7 warning duplicate-serial`,
      ]);
      expect(r.problems[1]?.related?.[0]).toEqual(expect.objectContaining({ line: headLines + 21, column: 7 }));
      expect(r.stats.serials).toBe(n - 2);
    } finally {
      await cleanup();
    }
  });

  it('falls back to the normal path when a numeric serial would change the meaning', async () => {
    const body = list(FAST_PATH_MIN_ITEMS + 1, (i, l) => (i === 2 ? '    - 123456789' : l));
    const { dir, cleanup } = await makeConfigDir({ 'a.yaml': `${head}${body}\n` });
    try {
      const r = await loadConfig(dir);
      expect(r.problems.map((p) => `${p.line}:${p.code}: ${p.message}`)).toEqual([`${headLines + 3}:schema: spec.serials[2]: must be a string, got number 123456789`]);
    } finally {
      await cleanup();
    }
  });
});
