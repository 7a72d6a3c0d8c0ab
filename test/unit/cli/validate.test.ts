import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { runDepctl } from '../../helpers/cli.js';
import { makeConfigDir } from '../../helpers/config-dir.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const resultSchema = JSON.parse(readFileSync(`${root}schemas/validate-result.schema.json`, 'utf8')) as object;

const broken = {
  'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: t.p7m }
  privateKey: { file: k.pem }
  defaultProfile: staff
  unassignedDevices: ignore
`,
  'profile.yaml': `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: staff }
spec:
  servers: [paris]
  profile:
    profile_name: "Staff, 100%"
    url: mdm.example.com
`,
};

describe('depctl validate', () => {
  it('prints success for examples/ and exits 0', async () => {
    const r = await runDepctl(['validate', 'examples'], { cwd: root });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^examples: valid \(3 MdmServers, 11 EnrollmentProfiles, 8 Assignments; \d+ serials in \d+ files; 0 errors, 0 warnings\)\n$/);
  });

  it('prints every problem as path:line:col: severity: message and exits 1', async () => {
    const { dir, cleanup } = await makeConfigDir(broken);
    try {
      const r = await runDepctl(['validate', dir]);
      expect(r.code).toBe(1);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toEqual([
        `${dir}/profile.yaml:8:10: error: spec.profile.url: "mdm.example.com" is not a valid uri [schema]`,
        `${dir}/servers.yaml:7:19: warning: defaultProfile has no effect while unassignedDevices is "ignore"; set unassignedDevices: default to use it [default-profile-unused]`,
        `${dir}: invalid (1 MdmServer, 1 EnrollmentProfile, 0 Assignments; 0 serials in 2 files; 1 error, 1 warning)`,
      ]);
    } finally {
      await cleanup();
    }
  });

  it('exits 0 with warnings only, and 1 with --warnings-as-errors', async () => {
    const { dir, cleanup } = await makeConfigDir({ ...broken, 'profile.yaml': broken['profile.yaml'].replace('url: mdm', 'url: https://mdm') });
    try {
      expect((await runDepctl(['validate', dir])).code).toBe(0);
      expect((await runDepctl(['validate', dir, '--warnings-as-errors'])).code).toBe(1);
    } finally {
      await cleanup();
    }
  });

  it('--format json prints the documented shape', async () => {
    const { dir, cleanup } = await makeConfigDir(broken);
    try {
      const r = await runDepctl(['validate', dir, '--format', 'json']);
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout) as { valid: boolean; problems: { code: string; line: number }[] };
      const ajv = new Ajv2020({ strict: true });
      expect(ajv.validate(resultSchema, out), JSON.stringify(ajv.errors)).toBe(true);
      expect(out.valid).toBe(false);
      expect(out.problems.map((p) => `${p.code}@${p.line}`)).toEqual(['schema@8', 'default-profile-unused@7']);
    } finally {
      await cleanup();
    }
  });

  it('--format github prints workflow annotations with escaped properties', async () => {
    const { dir, cleanup } = await makeConfigDir({ ...broken, 'profile.yaml': broken['profile.yaml'].replace('profile_name: "Staff, 100%"', 'profile_name: ""') });
    try {
      const r = await runDepctl(['validate', dir, '--format', 'github']);
      expect(r.code).toBe(1);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe(`::error file=${dir}/profile.yaml,line=7,col=19,title=depctl empty-string::spec.profile.profile_name: must not be empty (Apple rejects empty strings; leave the key out instead)`);
      expect(lines.filter((l) => l.startsWith('::'))).toHaveLength(3);
    } finally {
      await cleanup();
    }
  });

  it('escapes % and newlines in github annotations', async () => {
    const { dir, cleanup } = await makeConfigDir({ 'a,b.yaml': 'apiVersion: depctl/v1\nkind: "100%"\n' });
    try {
      const r = await runDepctl(['validate', dir, '--format', 'github']);
      expect(r.stdout).toContain('file=' + dir.replace(/:/g, '%3A') + '/a%2Cb.yaml,line=2,col=7');
      expect(r.stdout).toContain('unknown kind "100%25"');
    } finally {
      await cleanup();
    }
  });

  it('exits 2 on a usage error', async () => {
    const r = await runDepctl(['validate', 'examples', '--format', 'xml'], { cwd: root });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/argument 'xml' is invalid/);
  });
});
