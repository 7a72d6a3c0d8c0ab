import { describe, expect, it } from 'vitest';
import { loadConfig, type LoadResult } from '../../../controller/config/load.js';
import { summaryLine } from '../../../controller/cli/views/problems.js';
import { defaultTrustPolicy } from '../../../controller/config/trust.js';
import { abmUrlProblem } from '../../../controller/config/trust.js';
import { normaliseApiUrl, ORGANIZATION_API_URLS, ORGANIZATION_TOKEN_URL } from '../../../controller/config/organization.js';
import { ABM_API_URLS, ABM_TOKEN_URL } from '../../../controller/abm/types.js';
import { makeConfigDir } from '../../helpers/config-dir.js';
import { DEFAULT_INPUT_LIMITS } from '../../../controller/config/limits.js';
import { parseDocuments } from '../../../controller/config/documents.js';
import { defaultSchemas } from '../../../controller/config/schemas.js';
import { ProblemSink } from '../../../controller/config/problems.js';
import { SourceFile } from '../../../controller/config/source.js';

// kind: Organization and the ownership fields of MdmServer (issue 15): the typed model, and every rule with
// its place in the YAML.

const ORG = `apiVersion: depctl/v1
kind: Organization
metadata: { name: acme }
spec:
  scope: business
  clientId: BUSINESSAPI.9703f56c-10ce-4876-8f59-e78e5e23a152
  keyId: d136aa66-0c3b-4bd4-9892-c20e8db024ab
  privateKey: { file: acme-abm.pem }
`;

function server(name: string, extra = ''): string {
  return `apiVersion: depctl/v1\nkind: MdmServer\nmetadata: { name: ${name} }\nspec:\n  token: { file: ${name}/token.p7m }\n  privateKey: { file: ${name}/key.pem }\n${extra}`;
}

async function load(files: Record<string, string>, depHosts: string[] = []): Promise<LoadResult> {
  const { dir, cleanup } = await makeConfigDir(files);
  try {
    return await loadConfig(dir, { trust: { ...defaultTrustPolicy(`${dir}/.secrets`), depHosts } });
  } finally {
    await cleanup();
  }
}

function brief(r: LoadResult): string[] {
  return r.problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.severity} ${p.code}`);
}

describe('kind: Organization', () => {
  it('loads with defaults: Apple’s API for the scope (with /v1), Apple’s token endpoint, correct, ignore', async () => {
    const r = await load({ 'org.yaml': ORG, 'servers.yaml': server('paris', '  organization: acme\n') });
    expect(brief(r)).toEqual([]);
    expect(r.stats.documents.Organization).toBe(1);
    expect(summaryLine('cfg', r, true)).toBe('cfg: valid (1 MdmServer, 0 EnrollmentProfiles, 0 Assignments, 1 Organization; 0 serials in 2 files; 0 errors, 0 warnings)');
    expect(r.config?.organizations).toEqual([
      {
        name: 'acme',
        scope: 'business',
        clientId: 'BUSINESSAPI.9703f56c-10ce-4876-8f59-e78e5e23a152',
        keyId: 'd136aa66-0c3b-4bd4-9892-c20e8db024ab',
        privateKey: { file: 'acme-abm.pem' },
        apiUrl: 'https://api-business.apple.com/v1',
        tokenUrl: 'https://account.apple.com/auth/oauth2/token',
        driftPolicy: 'correct',
        unclaimedDevices: 'ignore',
        source: { file: 'org.yaml', line: 3, column: 19 },
      },
    ]);
    expect(r.config?.servers[0]?.ownership).toEqual({ organization: 'acme', abmServerName: 'paris', serials: [], orderNumbers: [], productFamilies: [], source: { file: 'servers.yaml', line: 7, column: 17 } });
  });

  it('keeps its defaults equal to the API client’s', () => {
    expect(ORGANIZATION_API_URLS).toEqual(ABM_API_URLS);
    expect(ORGANIZATION_TOKEN_URL).toBe(ABM_TOKEN_URL);
  });

  it('takes a school account, an allowed simulator, maxChanges and the policies', async () => {
    const yaml = `apiVersion: depctl/v1\nkind: Organization\nmetadata: { name: district }\nspec:\n  scope: school\n  clientId: SCHOOLAPI.1234\n  keyId: k1\n  privateKey: { env: DEPCTL_DISTRICT_KEY }\n  apiUrl: http://127.0.0.1:9100\n  tokenUrl: http://127.0.0.1:9100/auth/oauth2/token\n  maxChanges: 50\n  driftPolicy: report\n  unclaimedDevices: report\n`;
    const r = await load({ 'org.yaml': yaml }, ['127.0.0.1:9100']);
    expect(brief(r)).toEqual([]);
    expect(r.config?.organizations?.[0]).toMatchObject({ scope: 'school', apiUrl: 'http://127.0.0.1:9100/v1', tokenUrl: 'http://127.0.0.1:9100/auth/oauth2/token', maxChanges: 50, driftPolicy: 'report', unclaimedDevices: 'report' });
  });

  it('refuses a client ID of the other scope, at the clientId', async () => {
    const r = await load({ 'org.yaml': ORG.replace('scope: business', 'scope: school') });
    expect(brief(r)).toEqual(['org.yaml:6:13 error client-id-scope']);
    expect(r.problems[0]?.message).toMatch(/starts with SCHOOLAPI\.; this one is for business/);
  });

  it('refuses API and token hosts the operator did not allow, so a pull request cannot redirect the credentials', async () => {
    const yaml = `${ORG}  apiUrl: https://api-business.apple.com.evil.example\n  tokenUrl: https://collector.example/token\n`;
    const r = await load({ 'org.yaml': yaml });
    expect(brief(r)).toEqual(['org.yaml:9:11 error abm-url-host', 'org.yaml:10:13 error abm-url-host']);
    expect(r.problems[0]?.message).toMatch(/--allow-dep-host/);
    expect(r.config).toBeUndefined();
    const allowed = await load({ 'org.yaml': yaml }, ['api-business.apple.com.evil.example', 'collector.example']);
    expect(brief(allowed)).toEqual([]);
  });

  it('refuses two Organizations with one API account, naming both', async () => {
    const r = await load({ 'org.yaml': `${ORG}---\n${ORG.replace('name: acme', 'name: acme-2')}` });
    expect(brief(r)).toEqual(['org.yaml:12:19 error ownership-conflict']);
    expect(r.problems[0]?.message).toMatch(/Organization "acme-2" uses the API account BUSINESSAPI\.9703f56c.* of Organization "acme" at org\.yaml:3:19/);
  });

  it('refuses a private key reference outside the secrets directory', async () => {
    const r = await load({ 'org.yaml': ORG.replace('acme-abm.pem', '/etc/ssl/private/acme.pem') });
    expect(brief(r)).toEqual(['org.yaml:8:23 error secret-ref']);
  });

  it('warns about plain http to a non-local host the operator allowed', async () => {
    const r = await load({ 'org.yaml': `${ORG}  apiUrl: http://abm-proxy.corp.example\n` }, ['abm-proxy.corp.example']);
    expect(brief(r)).toEqual(['org.yaml:9:11 warning insecure-abm-url']);
  });

  it('accepts only Apple’s hosts per field, over https on the default port', () => {
    const none = { depHosts: [] };
    expect(abmUrlProblem('apiUrl', 'https://api-school.apple.com', none)).toBeUndefined();
    expect(abmUrlProblem('apiUrl', 'https://account.apple.com', none)).toMatch(/not Apple's/);
    expect(abmUrlProblem('tokenUrl', 'https://account.apple.com/auth/oauth2/v2/token', none)).toBeUndefined();
    expect(abmUrlProblem('tokenUrl', 'http://account.apple.com/auth/oauth2/token', none)).toMatch(/not Apple's/);
    expect(abmUrlProblem('apiUrl', 'https://api-business.apple.com:8443', none)).toMatch(/api-business\.apple\.com:8443 is not Apple's/);
    expect(abmUrlProblem('apiUrl', 'https://u:p@api-business.apple.com', none)).toMatch(/user name or password/);
    expect(abmUrlProblem('apiUrl', 'https://api-business.apple.com/?x=1', none)).toMatch(/query/);
  });

  it('adds /v1 only to an API URL without a path', () => {
    expect(normaliseApiUrl('http://127.0.0.1:9100')).toBe('http://127.0.0.1:9100/v1');
    expect(normaliseApiUrl('http://127.0.0.1:9100/')).toBe('http://127.0.0.1:9100/v1');
    expect(normaliseApiUrl('https://proxy.example/abm/v1/')).toBe('https://proxy.example/abm/v1');
  });
});

describe('MdmServer ownership fields', () => {
  it('reads serials (inline and from files), order numbers and families into the typed model', async () => {
    const extra = `  organization: acme\n  abmServerName: Acme MDM\n  enableMdmDisownFlag: true\n  devices:\n    serials: [c02abc123def, C02ABC123XYZ]\n    serialFiles: [ownership/macs.txt, ownership/export.csv]\n    orderNumbers: [mx1234567]\n    productFamilies: [Mac, iPad]\n`;
    const r = await load({
      'org.yaml': ORG,
      'servers.yaml': server('paris', extra),
      'ownership/macs.txt': '# Macs\nF9FXK1ABCD12\n',
      'ownership/export.csv': 'Serial Number,Order Number\nDMPQ2ABCDEF1,MX1\n',
    });
    expect(brief(r)).toEqual([]);
    expect(r.config?.servers[0]?.ownership).toMatchObject({
      organization: 'acme',
      abmServerName: 'Acme MDM',
      enableMdmDisownFlag: true,
      serials: ['C02ABC123DEF', 'C02ABC123XYZ', 'F9FXK1ABCD12', 'DMPQ2ABCDEF1'],
      orderNumbers: ['MX1234567'],
      productFamilies: ['Mac', 'iPad'],
    });
  });

  it('refuses devices without an organization, and an organization that does not exist (with a suggestion)', async () => {
    const r = await load({
      'org.yaml': ORG,
      'a.yaml': server('paris', '  devices:\n    serials: [C02ABC123DEF]\n'),
      'b.yaml': server('lyon', '  organization: acne\n'),
      'c.yaml': server('nice', '  abmServerName: Nice\n'),
    });
    expect(brief(r)).toEqual(['a.yaml:8:5 error organization-missing', 'b.yaml:7:17 error unknown-reference', 'c.yaml:7:18 warning organization-missing']);
    expect(r.problems[1]?.message).toMatch(/unknown Organization "acne".*did you mean "acme"/);
  });

  it('reports a serial claimed by two servers, directly and through a file, naming both places', async () => {
    const r = await load({
      'org.yaml': ORG,
      'a.yaml': server('paris', '  organization: acme\n  devices:\n    serials: [C02ABC123DEF]\n'),
      'b.yaml': server('lyon', '  organization: acme\n  devices:\n    serialFiles: [lyon.txt]\n'),
      'lyon.txt': 'F9FXK1ABCD12\nc02abc123def\n',
    });
    expect(brief(r)).toEqual(['lyon.txt:2:1 error ownership-conflict']);
    const p = r.problems[0];
    expect(p?.message).toMatch(/serial C02ABC123DEF is claimed by MdmServer "lyon" and by MdmServer "paris" at a\.yaml:9:15/);
    expect(p?.related).toEqual([expect.objectContaining({ file: 'a.yaml', line: 9, column: 15 })]);
    expect(r.config).toBeUndefined();
  });

  it('reports an order number claimed twice (any organization) and a family twice within one organization', async () => {
    const other = ORG.replace('name: acme', 'name: beta').replace('9703f56c', '11111111');
    const r = await load({
      'org.yaml': `${ORG}---\n${other}`,
      'a.yaml': server('paris', '  organization: acme\n  devices:\n    orderNumbers: [MX1]\n    productFamilies: [Mac]\n'),
      'b.yaml': server('lyon', '  organization: acme\n  devices:\n    orderNumbers: [mx1]\n    productFamilies: [iPad, Mac]\n'),
      'c.yaml': server('nice', '  organization: beta\n  devices:\n    productFamilies: [Mac]\n'),
    });
    expect(brief(r)).toEqual(['b.yaml:9:20 error ownership-conflict', 'b.yaml:10:29 error ownership-conflict']);
    expect(r.problems[0]?.message).toMatch(/order number MX1 is claimed by MdmServer "lyon" and by MdmServer "paris" at a\.yaml:9:20/);
    expect(r.problems[1]?.message).toMatch(/product family Mac in Organization "acme" is claimed by MdmServer "lyon" and by MdmServer "paris" at a\.yaml:10:23/);
  });

  it('reports two servers with one name in Apple Business Manager, and warns about a serial listed twice for one server', async () => {
    const r = await load({
      'org.yaml': ORG,
      'a.yaml': server('paris', '  organization: acme\n  abmServerName: MDM\n  devices:\n    serials: [C02ABC123DEF, C02ABC123DEF]\n'),
      'b.yaml': server('lyon', '  organization: acme\n  abmServerName: MDM\n'),
    });
    expect(brief(r)).toEqual(['a.yaml:10:29 warning duplicate-serial', 'b.yaml:8:18 error ownership-conflict']);
  });

  it('reads a long inline list by the fast path, with exact places', async () => {
    const serials = Array.from({ length: 3000 }, (_, i) => `C02${String(i).padStart(9, '0')}`);
    const list = serials.map((s) => `      - ${s}\n`).join('');
    const r = await load({
      'org.yaml': ORG,
      'a.yaml': server('paris', `  organization: acme\n  devices:\n    serials:\n${list}`),
      'b.yaml': server('lyon', `  organization: acme\n  devices:\n    serials: [${serials[2000]}]\n`),
    });
    expect(brief(r)).toEqual(['b.yaml:9:15 error ownership-conflict']);
    expect(r.problems[0]?.related?.[0]).toMatchObject({ file: 'a.yaml', line: 10 + 2000, column: 9 });
    const ok = await load({ 'org.yaml': ORG, 'a.yaml': server('paris', `  organization: acme\n  devices:\n    serials:\n${list}`) });
    expect(ok.config?.servers[0]?.ownership?.serials).toHaveLength(3000);
    // The list was read by the line scanner (offsets kept), not by the YAML parser.
    const docs = parseDocuments(new SourceFile('a.yaml', '/tmp/a.yaml', server('paris', `  organization: acme\n  devices:\n    serials:\n${list}`)), defaultSchemas(), new ProblemSink());
    expect(docs[0]?.serialOffsets).toHaveLength(3000);
    expect(docs[0]?.valid).toBe(true);
  });

  it('stops at the serials input limit, counting owned serials', async () => {
    const { dir, cleanup } = await makeConfigDir({ 'org.yaml': ORG, 'a.yaml': server('paris', '  organization: acme\n  devices:\n    serials: [C02ABC123DE1, C02ABC123DE2, C02ABC123DE3]\n') });
    try {
      const r = await loadConfig(dir, { limits: { ...DEFAULT_INPUT_LIMITS, serials: 2 } });
      expect(brief(r)).toEqual(['a.yaml:1:1 error input-limit']);
      expect(r.problems[0]?.message).toMatch(/more than 2 owned serial numbers/);
    } finally {
      await cleanup();
    }
  });

  it('refuses a product family the Business API does not name, and empty devices', async () => {
    const r = await load({ 'org.yaml': ORG, 'a.yaml': server('paris', '  organization: acme\n  devices:\n    productFamilies: [iPod]\n'), 'b.yaml': server('lyon', '  organization: acme\n  devices: {}\n') });
    expect(r.problems.map((p) => `${p.file}:${p.line} ${p.code}`)).toEqual(['a.yaml:9 schema', 'b.yaml:8 schema']);
  });
});

describe('document separators', () => {
  it('ignores an empty document after a trailing `---`, and still reports an explicit null document', async () => {
    const trailing = await load({ 'org.yaml': `${ORG}---\n`, 'b.yaml': `${server('paris')}---\n# end\n` });
    expect(brief(trailing)).toEqual([]);
    expect(trailing.stats.documents).toMatchObject({ Organization: 1, MdmServer: 1 });
    const explicit = await load({ 'org.yaml': `${ORG}---\n~\n` });
    expect(brief(explicit)).toEqual(['org.yaml:10:1 error not-a-document']);
  });
});
