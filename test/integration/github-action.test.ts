/**
 * The GitHub Action end to end (issue 13 part 1): `node action/run.mjs`, the script action.yml runs, with
 * its inputs in the environment as the composite action passes them; the real depctl of this checkout
 * (bin/depctl.js on dist); a real bare git repository as the config repository with a pull-request ref;
 * the DEP simulator over HTTP; for `plan: remote` a real controller (in-process) with an API token; and a
 * fake GitHub REST API on loopback port 0 that records every request and keeps the comments.
 */
import { execFile } from 'node:child_process';
import { defaultTrustPolicy } from '../../controller/config/trust.js';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { encryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';
import { startController, type RunningController } from '../../controller/cli/run.js';
import { createLogger } from '../../controller/util/logger.js';
import type { CliIo } from '../../controller/cli/io.js';
import { git } from '../helpers/git.js';
import { ipadsYaml } from '../helpers/config-yaml.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const API_TOKEN = 'action-test-api-token-5d1e9a';
const GITHUB_TOKEN = 'ghs_action_test_token_0c4f';
const REPOSITORY = 'example-org/dep-config';
const PR = 7;

interface Recorded { method: string; path: string; auth: string | undefined; body: { body?: string } | null }
interface Comment { id: number; body: string; html_url: string }

/** A fake of the GitHub REST API's issue comments; `refuseWrites` answers 403 as for a fork's token. */
class FakeGitHub {
  requests: Recorded[] = [];
  comments: Comment[] = [];
  refuseWrites = false;
  private nextId = 1001;
  private server: Server = createServer((req, res) => void this.handle(req, res.writeHead.bind(res), (s: string) => res.end(s)));
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v3`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  reset(): void {
    this.requests = [];
    this.comments = [];
    this.refuseWrites = false;
    this.nextId = 1001;
  }

  private async handle(req: IncomingMessage, head: (status: number, headers: Record<string, string>) => void, end: (s: string) => void): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const url = new URL(req.url ?? '/', 'http://x');
    const body = raw === '' ? null : (JSON.parse(raw) as { body?: string });
    this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, auth: req.headers.authorization, body });
    const send = (status: number, value: unknown): void => {
      head(status, { 'content-type': 'application/json' });
      end(JSON.stringify(value));
    };
    const base = `/api/v3/repos/${REPOSITORY}`;
    if (req.headers.authorization !== `Bearer ${GITHUB_TOKEN}`) return send(401, { message: 'Bad credentials' });
    if (req.method === 'GET' && url.pathname === `${base}/issues/${PR}/comments`) {
      const page = Number(url.searchParams.get('page') ?? '1');
      const per = Number(url.searchParams.get('per_page') ?? '30');
      return send(200, this.comments.slice((page - 1) * per, page * per));
    }
    if (this.refuseWrites) return send(403, { message: 'Resource not accessible by integration' });
    if (req.method === 'POST' && url.pathname === `${base}/issues/${PR}/comments` && typeof body?.body === 'string') {
      const c = { id: this.nextId++, body: body.body, html_url: `https://github.example/${REPOSITORY}/pull/${PR}#issuecomment-${this.nextId}` };
      this.comments.push(c);
      return send(201, c);
    }
    const patch = new RegExp(`^${base}/issues/comments/(\\d+)$`).exec(url.pathname);
    if (req.method === 'PATCH' && patch && typeof body?.body === 'string') {
      const c = this.comments.find((x) => x.id === Number(patch[1]));
      if (!c) return send(404, { message: 'Not Found' });
      c.body = body.body;
      return send(200, c);
    }
    return send(404, { message: 'Not Found' });
  }
}

/** A fake of GitLab's merge-request notes API (v4), enough for deploy/gitlab/depctl.gitlab-ci.yml. */
class FakeGitLab {
  requests: { method: string; path: string; token: string | undefined }[] = [];
  notes: { id: number; body: string }[] = [];
  private server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const token = req.headers['private-token'] as string | undefined;
      this.requests.push({ method: req.method ?? '', path: url.pathname, token });
      const send = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (token !== 'glpat-note-token') return send(401, { message: '401 Unauthorized' });
      const base = '/api/v4/projects/42/merge_requests/5/notes';
      if (req.method === 'GET' && url.pathname === base) return send(200, this.notes);
      const body = raw === '' ? {} : (JSON.parse(raw) as { body?: string });
      if (req.method === 'POST' && url.pathname === base && typeof body.body === 'string') {
        const note = { id: 500 + this.notes.length, body: body.body };
        this.notes.push(note);
        return send(201, note);
      }
      const put = new RegExp(`^${base}/(\\d+)$`).exec(url.pathname);
      const note = put ? this.notes.find((n) => n.id === Number(put[1])) : undefined;
      if (req.method === 'PUT' && note && typeof body.body === 'string') {
        note.body = body.body;
        return send(200, note);
      }
      return send(404, { message: '404 Not found' });
    });
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v4`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface ActionRun { code: number; stdout: string; stderr: string; outputs: Record<string, string>; summary: string; runnerTemp: string }

describe('the depctl GitHub Action (action/run.mjs) against a fake GitHub API, a bare config repository and the simulator', () => {
  let sim: RunningSimulator;
  let root: string;
  let work: string;
  let secretsTgz: string;
  let controller: RunningController;
  const github = new FakeGitHub();
  let logs = '';
  let runs = 0;

  const serverYaml = (depUrl: string): string => `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: main }
spec:
  token: { file: main/token.p7m }
  privateKey: { file: main/key.pem }
  depUrl: ${depUrl}
`;

  /** Commits files on top of main and pushes them to the pull request's ref; returns the commit. */
  function pushPr(files: Record<string, string>, message: string): Promise<string> {
    return (async () => {
      for (const [rel, content] of Object.entries(files)) await writeFile(join(work, rel), content);
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', message);
      git(work, 'push', '-q', '-f', 'origin', `HEAD:refs/pull/${PR}/head`);
      return git(work, 'rev-parse', 'HEAD');
    })();
  }

  /** Checks the pull request out as actions/checkout would, then runs the action's script in it. */
  async function runAction(sha: string, inputs: Record<string, string>, opts: { fork?: boolean } = {}): Promise<ActionRun> {
    const dir = join(root, `run-${++runs}`);
    await mkdir(dir);
    git(dir, 'clone', '-q', join(root, 'config.git'), 'checkout');
    const checkout = join(dir, 'checkout');
    git(checkout, 'fetch', '-q', 'origin', `refs/pull/${PR}/head`);
    git(checkout, 'checkout', '-q', '--detach', sha);
    const runnerTemp = join(dir, 'runner-temp');
    await mkdir(runnerTemp);
    const event = { pull_request: { number: PR, head: { sha, repo: { full_name: opts.fork ? 'someone/dep-config' : REPOSITORY } }, base: { repo: { full_name: REPOSITORY } } } };
    await writeFile(join(dir, 'event.json'), JSON.stringify(event));
    await writeFile(join(dir, 'output'), '');
    await writeFile(join(dir, 'summary'), '');
    // Only what the runner and action.yml set: no DEP or depctl variables leak in from the test process.
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? dir,
      GITHUB_API_URL: github.url,
      GITHUB_REPOSITORY: REPOSITORY,
      GITHUB_EVENT_PATH: join(dir, 'event.json'),
      GITHUB_OUTPUT: join(dir, 'output'),
      GITHUB_STEP_SUMMARY: join(dir, 'summary'),
      RUNNER_TEMP: runnerTemp,
      INPUT_GITHUB_TOKEN: GITHUB_TOKEN,
      // The config's depUrl names the loopback simulator: a host the workflow allows (config/trust.ts).
      DEPCTL_ALLOW_DEP_HOSTS: new URL(sim.url).host,
      ...inputs,
    };
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(repoRoot, 'action', 'run.mjs')], { cwd: checkout, env, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
    const outputs = Object.fromEntries((await readFile(join(dir, 'output'), 'utf8')).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    return { ...result, outputs, summary: await readFile(join(dir, 'summary'), 'utf8'), runnerTemp };
  }

  beforeAll(async () => {
    await github.start();
    sim = await startSimulator({ devices: 0, seed: 41 });
    sim.portal.addDevices(Array.from({ length: 3 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    root = await mkdtemp(join(tmpdir(), 'depctl-action-'));
    const secrets = join(root, 'secrets');
    const { privateKeyPem, certificatePem } = generateKeyPair();
    await mkdir(join(secrets, 'main'), { recursive: true });
    await writeFile(join(secrets, 'main', 'key.pem'), privateKeyPem, { mode: 0o600 });
    await writeFile(join(secrets, 'main', 'token.p7m'), encryptServerToken(sim.token, certificatePem));
    secretsTgz = await new Promise<string>((resolve, reject) =>
      execFile('tar', ['-C', secrets, '-cz', '.'], { encoding: 'buffer' }, (err, out) => (err ? reject(err) : resolve(out.toString('base64')))));

    git(root, 'init', '-q', '--bare', '-b', 'main', 'config.git');
    git(root, 'clone', '-q', join(root, 'config.git'), 'work');
    work = join(root, 'work');
    git(work, 'checkout', '-q', '-b', 'main');
    await writeFile(join(work, 'servers.yaml'), serverYaml(sim.url));
    await writeFile(join(work, 'profiles.yaml'), ipadsYaml('One'));
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'initial config');
    git(work, 'push', '-q', 'origin', 'HEAD:main');

    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: root, env: { DEPCTL_API_TOKEN: API_TOKEN } };
    const logger = createLogger({ level: 'info', format: 'json', write: (s) => (logs += s) });
    controller = await startController(
      { repo: join(root, 'config.git'), branch: 'main', path: '.', pollInterval: 3_600_000, syncInterval: 3_600_000, listen: '127.0.0.1:0', workDir: join(root, 'controller-checkout'), allowLarge: false, logLevel: 'info', logFormat: 'json' },
      { stateUrl: `sqlite:${join(root, 'state.db')}`, secretsDir: secrets, depUrlOverride: undefined, trust: { ...defaultTrustPolicy(secrets), depHosts: [new URL(sim.url).host] } },
      io,
      logger,
    );
    await vi.waitFor(() => expect(controller.loop.current().conditions.find((x) => x.type === 'Ready')?.status, logs.slice(-2000)).toBe('True'), { timeout: 30_000, interval: 25 });
  }, 60_000);

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    await github.close();
    await rm(root, { recursive: true, force: true });
  });

  beforeEach(() => {
    github.reset();
    git(work, 'checkout', '-q', '--detach', 'origin/main');
  });

  it('local plan: validates, plans against the simulator, creates one comment, then updates the same comment on the next push', async () => {
    const first = await pushPr({ 'profiles.yaml': ipadsYaml('Two') }, 'department Two');
    const a = await runAction(first, { INPUT_PLAN: 'local', DEPCTL_SECRETS_TGZ: secretsTgz, INPUT_COMMENT: 'update' });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(a.outputs).toMatchObject({ 'validate-exit': '0', 'plan-exit': '2', changes: 'true', 'comment-id': '1001' });
    expect(github.requests.map((r) => `${r.method} ${r.path.replace(/\?.*/, '')}`)).toEqual([`GET /api/v3/repos/${REPOSITORY}/issues/${PR}/comments`, `POST /api/v3/repos/${REPOSITORY}/issues/${PR}/comments`]);
    expect(github.comments).toHaveLength(1);
    const body = github.comments[0]!.body;
    expect(body.split('\n')[0]).toBe('<!-- depctl-plan "." -->');
    expect(body).toContain(`### depctl for \`${first.slice(0, 7)}\``);
    expect(body).toContain('Planned from an empty store');
    expect(body).toMatch(/ipads/);
    expect(body).toContain('Two');
    expect(a.summary).toContain(body);
    // The secrets were unpacked into RUNNER_TEMP and are gone; nothing secret reached the comment.
    expect(await readdir(a.runnerTemp)).toEqual([]);
    expect(body).not.toContain(secretsTgz.slice(0, 40));
    expect(body).not.toContain('PRIVATE KEY');

    const second = await pushPr({ 'profiles.yaml': ipadsYaml('Three') }, 'department Three');
    github.requests = [];
    const b = await runAction(second, { INPUT_PLAN: 'local', DEPCTL_SECRETS_TGZ: secretsTgz });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(github.requests.map((r) => `${r.method} ${r.path.replace(/\?.*/, '')}`)).toEqual([`GET /api/v3/repos/${REPOSITORY}/issues/${PR}/comments`, `PATCH /api/v3/repos/${REPOSITORY}/issues/comments/1001`]);
    expect(github.comments).toHaveLength(1);
    expect(github.comments[0]!.body).toContain(`### depctl for \`${second.slice(0, 7)}\``);
    expect(github.comments[0]!.body).toContain('Three');
    expect(github.requests.every((r) => r.auth === `Bearer ${GITHUB_TOKEN}`)).toBe(true);
  }, 120_000);

  it('remote plan: the controller plans the pull request; the job holds only the API token and Apple sees no write', async () => {
    const sha = await pushPr({ 'profiles.yaml': ipadsYaml('Remote') }, 'department Remote');
    sim.inspect.resetRequestCounts();
    const r = await runAction(sha, { INPUT_PLAN: 'remote', INPUT_CONTROLLER_URL: controller.url, DEPCTL_API_TOKEN: API_TOKEN });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs).toMatchObject({ 'validate-exit': '0', 'plan-exit': '2', changes: 'true' });
    const body = github.comments[0]?.body ?? '';
    expect(body).toContain('Planned by the depctl controller');
    expect(body).toContain('Remote');
    expect(body).not.toContain('Planned from an empty store');
    expect(body).not.toContain(API_TOKEN);
    expect(Object.keys(sim.inspect.requestCounts()).filter((k) => !/^(GET \/session|GET \/account|POST \/server\/devices|POST \/devices\/sync|GET \/profile)/.test(k))).toEqual([]);
  }, 120_000);

  it('a fork: no API token and a read-only GitHub token; validated only, the comment goes to the job summary with a warning', async () => {
    const sha = await pushPr({ 'profiles.yaml': ipadsYaml('Fork') }, 'from a fork');
    github.refuseWrites = true;
    // Neither the API token nor (on some settings) the controller URL variable reach a fork's run.
    const r = await runAction(sha, { INPUT_PLAN: 'remote' }, { fork: true });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs['plan-exit']).toBe('');
    expect(r.summary).toContain('**No plan**: the controller\'s API token is not available to this run (GitHub gives no secrets to pull requests from forks)');
    expect(r.stdout).toMatch(/^::warning::depctl: could not comment on the pull request \(HTTP 403\)/m);
    expect(github.comments).toEqual([]);
  }, 120_000);

  it('invalid config: annotations in the log, "Validation failed" in the comment, no plan, exit 1', async () => {
    const sha = await pushPr({ 'profiles.yaml': ipadsYaml('Bad').replace('profile: ipads', 'profile: no-such-profile') }, 'broken');
    sim.inspect.resetRequestCounts();
    const r = await runAction(sha, { INPUT_PLAN: 'local', DEPCTL_SECRETS_TGZ: secretsTgz });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error file=profiles\.yaml,line=\d+/m);
    expect(r.outputs).toMatchObject({ 'validate-exit': '1', 'plan-exit': '' });
    expect(github.comments[0]?.body).toContain('**Validation failed**');
    expect(github.comments[0]?.body).toContain('no-such-profile');
    expect(sim.inspect.requestCounts()).toEqual({});
  }, 120_000);

  it('comment modes: new makes a comment per run, off makes no request; a bad input is refused with a clear error', async () => {
    const sha = await pushPr({ 'profiles.yaml': ipadsYaml('Modes') }, 'modes');
    for (let i = 0; i < 2; i++) expect((await runAction(sha, { INPUT_PLAN: 'none', INPUT_COMMENT: 'new' })).code).toBe(0);
    expect(github.comments.map((c) => c.id)).toEqual([1001, 1002]);
    expect(github.comments[1]!.body).toContain('Validation passed. (No plan: this workflow validates only.)');
    expect(github.requests.filter((r) => r.method === 'GET')).toEqual([]);

    github.reset();
    const off = await runAction(sha, { INPUT_PLAN: 'none', INPUT_COMMENT: 'off' });
    expect(off.code).toBe(0);
    expect(github.requests).toEqual([]);
    expect(off.summary).toContain('Validation passed.');

    const bad = await runAction(sha, { INPUT_PLAN: 'everything' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('::error::depctl action: input plan: "everything" is not one of remote, local, none');
    const noUrl = await runAction(sha, { INPUT_PLAN: 'remote', DEPCTL_API_TOKEN: API_TOKEN });
    expect(noUrl.code).toBe(1);
    expect(noUrl.stdout).toContain('::error::depctl action: plan: remote needs the input controller-url');
    expect(noUrl.stdout).not.toContain(API_TOKEN);
    expect(github.requests).toEqual([]);
  }, 120_000);

  it('the GitLab template: its script, run in bash with the real depctl, plans the merge request remotely and creates then updates one note', async () => {
    const gitlab = new FakeGitLab();
    await gitlab.start();
    try {
      const template = parse(await readFile(join(repoRoot, 'deploy', 'gitlab', 'depctl.gitlab-ci.yml'), 'utf8')) as Record<string, { script: string[] }>;
      // The image runs depctl from /app; here it is this checkout's build.
      const script = (template['depctl-plan']?.script ?? []).join('\n').replaceAll('/app/bin/depctl.js', join(repoRoot, 'bin', 'depctl.js'));
      const runTemplate = async (sha: string): Promise<{ code: number; stdout: string }> => {
        const dir = join(root, `gitlab-${++runs}`);
        await mkdir(dir);
        git(dir, 'clone', '-q', join(root, 'config.git'), 'project');
        const project = join(dir, 'project');
        git(project, 'fetch', '-q', 'origin', 'refs/merge-requests/5/head');
        git(project, 'checkout', '-q', '--detach', sha);
        const env = {
          PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? dir, CI_PROJECT_DIR: project, CI_API_V4_URL: gitlab.url, CI_PROJECT_ID: '42',
          CI_MERGE_REQUEST_IID: '5', CI_COMMIT_SHA: sha, CI_COMMIT_SHORT_SHA: sha.slice(0, 8), DEPCTL_CONFIG_PATH: '.',
          DEPCTL_URL: controller.url, DEPCTL_API_TOKEN: API_TOKEN, DEPCTL_NOTE_TOKEN: 'glpat-note-token', DEPCTL_ALLOW_DEP_HOSTS: new URL(sim.url).host,
        };
        return new Promise((resolve) => execFile('bash', ['-c', script], { cwd: project, env, timeout: 120_000 }, (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout })));
      };
      const pushMr = async (department: string): Promise<string> => {
        await writeFile(join(work, 'profiles.yaml'), ipadsYaml(department));
        git(work, 'add', '-A');
        git(work, 'commit', '-q', '-m', department);
        git(work, 'push', '-q', '-f', 'origin', 'HEAD:refs/merge-requests/5/head');
        return git(work, 'rev-parse', 'HEAD');
      };
      const first = await pushMr('GitLabOne');
      const a = await runTemplate(first);
      expect(a.code, a.stdout).toBe(0);
      expect(a.stdout).toContain('depctl: note created');
      expect(gitlab.notes).toHaveLength(1);
      expect(gitlab.notes[0]!.body.split('\n')[0]).toBe('<!-- depctl-plan -->');
      expect(gitlab.notes[0]!.body).toContain('Planned by the depctl controller');
      expect(gitlab.notes[0]!.body).toContain('GitLabOne');
      const second = await pushMr('GitLabTwo');
      const b = await runTemplate(second);
      expect(b.code, b.stdout).toBe(0);
      expect(b.stdout).toContain('depctl: note updated');
      expect(gitlab.notes).toHaveLength(1);
      expect(gitlab.notes[0]!.body).toContain(`### depctl for \`${second.slice(0, 8)}\``);
      expect(gitlab.notes[0]!.body).toContain('GitLabTwo');
      expect(gitlab.requests.map((r) => r.method)).toEqual(['GET', 'POST', 'GET', 'PUT']);
      expect(JSON.stringify(gitlab.notes)).not.toContain(API_TOKEN);
    } finally {
      await gitlab.close();
    }
  }, 120_000);
});
