/**
 * The depctl GitHub Action (action.yml runs `node action/run.mjs` with its inputs in the environment):
 * validate the config with GitHub annotations, make the plan (remote: asked of the running controller;
 * local: here, with the DEP secrets; none), and post or update one pull-request comment. depctl itself is
 * the copy in this checkout (bin/depctl.js on the dist that action.yml builds), never a registry package.
 *
 * Inputs (environment): INPUT_CONFIG_PATH (.), INPUT_PLAN (remote | local | none), INPUT_CONTROLLER_URL,
 * INPUT_REF (default refs/pull/N/head), INPUT_COMMENT (update | new | off), INPUT_GITHUB_TOKEN;
 * DEPCTL_API_TOKEN (remote); DEPCTL_SECRETS_TGZ or DEPCTL_SECRETS_DIR, and DEPCTL_STATE (local).
 * GitHub's own: GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
 * RUNNER_TEMP. Exit 1 when validation fails or the plan fails; 0 otherwise (also when no plan could be
 * made because the secrets are not given to this run, which the comment says).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GitHubApiError, commentMarker, finishBody, githubComments, postComment } from './comment.mjs';

const DEPCTL = fileURLToPath(new URL('../bin/depctl.js', import.meta.url));
const PLAN_MODES = ['remote', 'local', 'none'];
const COMMENT_MODES = ['update', 'new', 'off'];

/** Runs depctl from this checkout; resolves with its exit code and output (stdout also echoed when asked). */
function depctl(args, { env = process.env, echo = false, stdin } = {}) {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [DEPCTL, ...args], { env, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
      if (echo) process.stdout.write(c);
    });
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
    if (stdin !== undefined) child.stdin.end(stdin);
  });
}

/** Fetches `origin/BRANCH` (a shallow checkout has no base branch); a failure is left to depctl to report. */
function fetchTrustedRef(trustedRef, cwd) {
  const m = /^origin\/([A-Za-z0-9._/-]+)$/.exec(trustedRef);
  if (!m) return Promise.resolve();
  return new Promise((resolve) => {
    const child = spawn('git', ['fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${m[1]}:refs/remotes/origin/${m[1]}`], { cwd, stdio: 'ignore' });
    child.on('close', () => resolve());
    child.on('error', () => resolve());
  });
}

/** Unpacks a base64 gzip tar (the DEPCTL_SECRETS_TGZ secret) into `dir` without it touching a command line. */
function untar(base64, dir) {
  return new Promise((done, fail) => {
    const child = spawn('tar', ['-xz', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done() : fail(new Error(`could not unpack DEPCTL_SECRETS_TGZ (tar exit ${code}): ${err.trim().slice(0, 200)}`))));
    child.stdin.end(Buffer.from(base64.replace(/\s+/g, ''), 'base64'));
  });
}

const fence = (text) => `\`\`\`\n${text.replaceAll('```', "'''").trim()}\n\`\`\`\n`;
const out = (name, value) => {
  if (process.env.GITHUB_OUTPUT) appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${String(value).replace(/\n/g, ' ')}\n`);
};

/** Reads the inputs; throws with a clear message on a value outside the documented ones. */
export function readInputs(env) {
  const input = (name, fallback = '') => (env[`INPUT_${name}`] ?? '').trim() || fallback;
  const plan = input('PLAN', 'remote');
  const comment = input('COMMENT', 'update');
  if (!PLAN_MODES.includes(plan)) throw new Error(`input plan: ${JSON.stringify(plan)} is not one of ${PLAN_MODES.join(', ')}`);
  if (!COMMENT_MODES.includes(comment)) throw new Error(`input comment: ${JSON.stringify(comment)} is not one of ${COMMENT_MODES.join(', ')}`);
  return { configPath: input('CONFIG_PATH', '.'), plan, comment, controllerUrl: input('CONTROLLER_URL'), ref: input('REF'), githubToken: input('GITHUB_TOKEN'), trustedRef: input('TRUSTED_REF', `origin/${env.GITHUB_BASE_REF || 'main'}`) };
}

/** The pull request of the event, if the workflow runs for one. */
function pullRequest(env) {
  if (!env.GITHUB_EVENT_PATH || !existsSync(env.GITHUB_EVENT_PATH)) return null;
  const pr = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')).pull_request;
  if (!pr || typeof pr.number !== 'number') return null;
  const fork = Boolean(pr.head?.repo?.full_name && pr.base?.repo?.full_name && pr.head.repo.full_name !== pr.base.repo.full_name);
  return { number: pr.number, sha: String(pr.head?.sha ?? ''), fork };
}

/** The arguments of the remote plan: the pull request's ref, pinned to the commit the run is for. */
export function remotePlanArgs({ controllerUrl, ref }, pr) {
  const theRef = ref || (pr ? `refs/pull/${pr.number}/head` : '');
  if (!theRef) throw new Error('plan: remote needs a pull request event or the input ref');
  return ['plan', '--remote', controllerUrl, '--ref', theRef, ...(pr?.sha && !ref ? ['--sha', pr.sha] : []), '--format', 'markdown', '--detailed-exitcode', '--no-color'];
}

async function main() {
  const env = process.env;
  const inputs = readInputs(env);
  const pr = pullRequest(env);
  const secrets = [env.DEPCTL_API_TOKEN ?? '', inputs.githubToken];
  // As given, relative to the workspace: GitHub places annotations by the path that depctl prints.
  const config = inputs.configPath;
  const heading = `### depctl${pr?.sha ? ` for \`${pr.sha.slice(0, 7)}\`` : ''}${inputs.configPath === '.' ? '' : ` (\`${inputs.configPath}\`)`}\n\n`;
  let body = heading;
  let failed = false;

  // 1. Validate: annotations go to the log (GitHub reads them from stdout), the text goes to the comment.
  const annotated = await depctl(['validate', config, '--format', 'github'], { echo: true });
  out('validate-exit', annotated.code);
  let planExit = '';
  if (annotated.code !== 0) {
    const text = await depctl(['validate', config, '--format', 'text']).catch(() => ({ stdout: '', stderr: '' }));
    body += `**Validation failed**: no plan was made. The problems are annotated on the changed lines.\n\n${fence(`${text.stdout}${text.stderr}`.slice(0, 60_000))}`;
    failed = true;
  } else if (inputs.plan === 'none') {
    body += 'Validation passed. (No plan: this workflow validates only.)\n';
  } else if (inputs.plan === 'remote') {
    // 2a. The controller plans; this job holds only its API token. GitHub gives no secrets to a fork's run.
    if (!env.DEPCTL_API_TOKEN) {
      body += `Validation passed. **No plan**: the controller's API token is not available to this run${pr?.fork ? ' (GitHub gives no secrets to pull requests from forks)' : ' (set the secret that the api-token input names)'}. A maintainer can re-run the plan from a branch of this repository.\n`;
    } else {
      if (!inputs.controllerUrl) throw new Error('plan: remote needs the input controller-url');
      const plan = await depctl(remotePlanArgs(inputs, pr));
      planExit = String(plan.code);
      if (plan.code === 0 || plan.code === 2) body += `Planned by the depctl controller (no DEP token or store credentials in this job).\n\n${plan.stdout}`;
      else {
        body += `Validation passed. **Plan failed** (exit ${plan.code}):\n\n${fence(plan.stderr.slice(0, 60_000))}`;
        failed = true;
      }
    }
  } else {
    // 2b. Local plan: the DEP secrets are unpacked into a private temporary directory and removed after.
    const tmp = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'depctl-'));
    try {
      let secretsDir = env.DEPCTL_SECRETS_DIR ?? '';
      if (env.DEPCTL_SECRETS_TGZ) {
        secretsDir = join(tmp, 'secrets');
        mkdirSync(secretsDir, { mode: 0o700 });
        await untar(env.DEPCTL_SECRETS_TGZ, secretsDir);
      }
      if (!secretsDir) {
        body += `Validation passed. **No plan**: the DEP secrets are not available to this run${pr?.fork ? ' (GitHub gives no secrets to pull requests from forks)' : ''}.\n`;
      } else {
        const shared = Boolean(env.DEPCTL_STATE);
        const planEnv = { ...env, DEPCTL_SECRETS_DIR: secretsDir, DEPCTL_STATE: env.DEPCTL_STATE || `sqlite:${join(tmp, 'state.db')}` };
        delete planEnv.DEPCTL_SECRETS_TGZ;
        // The pull request's YAML is untrusted: servers connect only as the base branch defines them.
        const untrusted = inputs.trustedRef === 'none' ? [] : ['--untrusted', '--trusted-ref', inputs.trustedRef];
        if (untrusted.length > 0) await fetchTrustedRef(inputs.trustedRef, config);
        const plan = await depctl(['plan', config, ...untrusted, '--format', 'markdown', '--detailed-exitcode', '--no-color'], { env: planEnv });
        planExit = String(plan.code);
        if (plan.code === 0 || plan.code === 2) {
          if (!shared) body += '> Planned from an empty store (no state given): profiles already defined at Apple show as new.\n\n';
          body += plan.stdout;
        } else {
          body += `Validation passed. **Plan failed** (exit ${plan.code}):\n\n${fence(plan.stderr.slice(0, 60_000))}`;
          failed = true;
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  out('plan-exit', planExit);
  out('changes', planExit === '2');

  // 3. The comment (and always the job summary).
  const marker = commentMarker(inputs.configPath);
  const finished = finishBody(`${marker}\n${body}`, secrets);
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, `${finished}\n`);
  if (inputs.comment !== 'off' && !pr) console.log('::notice::depctl: not a pull request event, so no comment; the result is in the job summary');
  else if (inputs.comment !== 'off') {
    if (!inputs.githubToken) throw new Error('comment: needs the input github-token (the default is the job token)');
    const client = githubComments({ apiUrl: env.GITHUB_API_URL || 'https://api.github.com', token: inputs.githubToken, repository: env.GITHUB_REPOSITORY ?? '' });
    try {
      const result = await postComment(client, { issue: pr.number, body: finished, marker, mode: inputs.comment });
      out('comment-id', result.id ?? '');
      console.log(`depctl: comment ${result.action}${result.url ? ` ${result.url}` : ''}`);
    } catch (err) {
      // A fork's run gets a read-only token: the result stays in the job summary.
      if (err instanceof GitHubApiError && (err.status === 403 || err.status === 404)) console.log(`::warning::depctl: could not comment on the pull request (HTTP ${err.status}); the result is in the job summary`);
      else throw err;
    }
  }
  if (failed) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.log(`::error::depctl action: ${finishBody(err instanceof Error ? err.message : String(err), [process.env.DEPCTL_API_TOKEN ?? '', process.env.INPUT_GITHUB_TOKEN ?? ''])}`);
    process.exitCode = 1;
  });
}
