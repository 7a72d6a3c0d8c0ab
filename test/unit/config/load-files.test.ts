import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, MAX_YAML_BYTES } from '../../../controller/config/load.js';
import { makeConfigDir } from '../../helpers/config-dir.js';
import { PARIS_IPADS_YAML } from '../../helpers/config-yaml.js';

const base = PARIS_IPADS_YAML;
const assignment = (files: string) => `apiVersion: depctl/v1
kind: Assignment
metadata: { name: carts }
spec:
  profile: ipads
  serialFiles: [${files}]
`;

async function problemsOf(files: Record<string, string | Buffer>, setup?: (dir: string) => Promise<void>) {
  const { dir, cleanup } = await makeConfigDir(files);
  try {
    await setup?.(dir);
    const r = await loadConfig(dir);
    return { ...r, list: r.problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.severity} ${p.code}: ${p.message}`) };
  } finally {
    await cleanup();
  }
}

describe('loadConfig: files and encodings', () => {
  it('reads an Apple Business Manager CSV by its "Serial Number" column, with quoted fields and CRLF', async () => {
    const csv = 'Serial Number,Device Model,Order Number\r\nF9FXK1ABCD12,"iPad Air, 11-inch",MX1\r\n"dmpxl2qrhp7a",iPad,MX2\r\n\r\n';
    const r = await problemsOf({ 'base.yaml': base, 'a.yaml': assignment('carts.csv'), 'carts.csv': csv });
    expect(r.list).toEqual([]);
    expect(r.config?.assignments[0]?.serials).toEqual(['F9FXK1ABCD12', 'DMPXL2QRHP7A']);
  });

  it('reports a bad serial in a CSV at its line and column', async () => {
    const csv = 'Order Number;Serial Number\nMX1;F9FXK1ABCD12\nMX2;NOT-A-SERIAL\n';
    const r = await problemsOf({ 'base.yaml': base, 'a.yaml': assignment('carts.csv'), 'carts.csv': csv });
    expect(r.list).toEqual(['carts.csv:3:5 error serial-format: "NOT-A-SERIAL" is not a serial number (only letters and digits are allowed)']);
  });

  it('reports a CSV without a serial column', async () => {
    const r = await problemsOf({ 'base.yaml': base, 'a.yaml': assignment('carts.csv'), 'carts.csv': 'Model,Order\niPad,MX1\n' });
    expect(r.list).toEqual(['carts.csv:1:1 error serial-file: CSV header has no serial number column (found: Model, Order)']);
  });

  it('reads one serial per line, skipping comments and blank lines, and reports junk at its line', async () => {
    const r = await problemsOf({ 'base.yaml': base, 'a.yaml': assignment('list.txt'), 'list.txt': '# cart A\nF9FXK1ABCD12\n\n  DMPXL2QRHP7A  \nbad serial\n' });
    expect(r.list).toEqual(['list.txt:5:1 error serial-format: "bad serial" is not a serial number (it contains spaces; list one serial per item)']);
  });

  it('names both places when a serial file repeats a serial listed in another assignment', async () => {
    const other = 'apiVersion: depctl/v1\nkind: Assignment\nmetadata: { name: inline }\nspec:\n  profile: ipads\n  serials: [F9FXK1ABCD12]\n';
    const r = await problemsOf({ 'base.yaml': base, 'a.yaml': assignment('list.txt'), 'b.yaml': other, 'list.txt': 'F9FXK1ABCD12\n' });
    expect(r.errorCount).toBe(1);
    const p = r.problems[0]!;
    expect(p.code).toBe('duplicate-serial');
    expect([p.file, p.line].join(':')).toMatch(/^(list\.txt:1|b\.yaml:6)$/);
    expect(p.related?.[0]?.file).toMatch(/^(list\.txt|b\.yaml)$/);
    expect(p.related?.[0]?.file).not.toBe(p.file);
  });

  it('refuses a serial file that is a symbolic link leading outside the config directory', async () => {
    const { dir: outside, cleanup } = await makeConfigDir({ 'secret.txt': 'F9FXK1ABCD12\n' });
    try {
      const r = await problemsOf({ 'base.yaml': base, 'a.yaml': assignment('list.txt') }, (dir) => symlink(join(outside, 'secret.txt'), join(dir, 'list.txt')));
      expect(r.list).toEqual(['a.yaml:6:17 error path-escape: serial file "list.txt" is a symbolic link that leads outside the config directory']);
    } finally {
      await cleanup();
    }
  });

  it('rejects a YAML file that is not UTF-8, at the offending byte', async () => {
    const latin1 = Buffer.concat([Buffer.from('apiVersion: depctl/v1\nkind: MdmServer\nmetadata: { name: lyon }\n# Lyc'), Buffer.from([0xe9]), Buffer.from('e\n')]);
    const r = await problemsOf({ 'base.yaml': base, 'lyon.yaml': latin1 });
    expect(r.list).toEqual(['lyon.yaml:4:6 error encoding: file is not valid UTF-8 (byte 0xe9); save it as UTF-8']);
  });

  it('rejects a UTF-16 YAML file', async () => {
    const r = await problemsOf({ 'base.yaml': base, 'u16.yaml': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('apiVersion: depctl/v1\n', 'utf16le')]) });
    expect(r.list).toEqual(['u16.yaml:1:1 error encoding: file is UTF-16; save it as UTF-8']);
  });

  it('rejects a huge YAML file without parsing it', async () => {
    const r = await problemsOf({ 'base.yaml': base, 'huge.yaml': Buffer.alloc(MAX_YAML_BYTES + 1, 0x20) });
    expect(r.list).toEqual(['huge.yaml:1:1 error file-too-large: file is 16.0 MiB, over the limit of 16.0 MiB; split it into several files']);
  });

  it('accepts a UTF-8 byte order mark', async () => {
    const r = await problemsOf({ 'base.yaml': `\uFEFF${base}` });
    expect(r.list).toEqual([]);
  });

  it('reports secrets inside the config repository: a .p7m token, a private key, a decrypted token', async () => {
    const r = await problemsOf({
      'base.yaml': base,
      'tokens/paris_Token_2026-01-17T11-02-21Z_smime.p7m': 'Content-Type: application/pkcs7-mime; name="smime.p7m"\n\nMIAGCSqG\n',
      'keys/notes.txt': 'our key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n',
      'token.json': '{\n  "consumer_key": "CK_1",\n  "consumer_secret": "CS_2"\n}\n',
    });
    expect(r.list.map((l) => l.replace(/: .*/, ''))).toEqual([
      'keys/notes.txt:2:1 error secret-in-repo',
      'token.json:3:3 error secret-in-repo',
      'tokens/paris_Token_2026-01-17T11-02-21Z_smime.p7m:1:1 error secret-in-repo',
    ]);
    expect(r.config).toBeUndefined();
  });

  it('skips hidden directories such as .github and .git', async () => {
    const r = await problemsOf({ 'base.yaml': base, '.github/workflows/ci.yml': 'on: push\njobs: {}\n' });
    expect(r.list).toEqual([]);
  });

  it('reports an empty directory instead of treating it as "no devices wanted"', async () => {
    const r = await problemsOf({ 'README.md': '# nothing here\n' });
    expect(r.list).toEqual(['.:1:1 error no-documents: no depctl documents found (expected *.yaml files with apiVersion: depctl/v1)']);
  });

  it('reports a missing directory', async () => {
    const r = await loadConfig('/nonexistent/depctl-config');
    expect(r.problems.map((p) => p.code)).toEqual(['io-error']);
  });

  it('gives a typed config with defaults applied when valid', async () => {
    const r = await problemsOf({ 'base.yaml': base, 'a.yaml': assignment('l.txt'), 'l.txt': 'f9fxk1abcd12\n' }, async (dir) => {
      await mkdir(join(dir, 'empty-sub'));
      await writeFile(join(dir, 'empty-sub', 'notes.md'), 'hello');
    });
    expect(r.list).toEqual([]);
    expect(r.config?.servers).toEqual([
      expect.objectContaining({ name: 'paris', unassignedDevices: 'ignore', driftPolicy: 'correct', token: { file: 'paris/token.p7m' } }),
    ]);
    expect(r.config?.assignments[0]).toEqual(expect.objectContaining({ name: 'carts', profile: 'ipads', servers: ['paris'], serials: ['F9FXK1ABCD12'], priority: 0 }));
  });
});
