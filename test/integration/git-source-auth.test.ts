import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitSource, GitSourceError } from '../../controller/source/index.js';
import { createGitFixture, type GitFixture } from '../unit/source/git-fixture.js';

const TOKEN = 'ghs_S3cr3t/t0ken+with%odd@chars';

let fx: GitFixture;
let server: Server | undefined;
let sockets: Set<Socket>;
beforeEach(async () => {
  fx = await createGitFixture();
});
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
  await fx.cleanup();
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  sockets = new Set();
  server.on('connection', (socket: Socket) => sockets.add(socket));
  await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function rejection(promise: Promise<unknown>): Promise<GitSourceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GitSourceError);
  return err as GitSourceError;
}

/** Every way the token could leak: raw, URL-encoded, and inside the Basic header. */
function leaks(text: string, token: string, user = 'x-access-token'): string[] {
  const forms = [token, encodeURIComponent(token), encodeURI(token), Buffer.from(`${user}:${token}`).toString('base64')];
  return forms.filter((form) => text.includes(form));
}

/** Serves the fixture's repositories through `git http-backend` (CGI), only with the expected Basic credentials. */
function gitHttpBackend(root: string, env: Record<string, string>, seen: string[]) {
  const expected = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
  return (req: IncomingMessage, res: ServerResponse): void => {
    seen.push(req.headers.authorization ?? '(none)');
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const headers = out.subarray(0, split).toString('latin1').split('\r\n');
      let status = 200;
      for (const line of headers) {
        const [name, ...rest] = line.split(':');
        const value = rest.join(':').trim();
        if (name?.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else if (name) res.setHeader(name, value);
      }
      res.writeHead(status).end(out.subarray(split + 4));
    });
  };
}

describe('git source: https token', () => {
  it.each([
    ['a plain token in the URL', 'SECRET', 'https://x-access-token:SECRET@127.0.0.1:1/repo.git'],
    ['a URL-encoded token in the URL', TOKEN, `https://x-access-token:${encodeURIComponent(TOKEN)}@127.0.0.1:1/repo.git`],
  ])('keeps %s out of the error when the connection is refused', async (_name, token, url) => {
    const src = createGitSource({ url, workDir: fx.workDir(), env: fx.env });
    const err = await rejection(src.sync());
    expect(err.kind).toBe('fetch-failed');
    expect(err.message).toContain('127.0.0.1');
    for (const text of [err.message, String(err.stack), JSON.stringify(err), src.describe()]) expect(leaks(text, token)).toEqual([]);
    expect(src.describe()).toBe('https://127.0.0.1:1/repo.git (default branch, path .)');
  });

  it('keeps a token given as an option out of the error', async () => {
    const src = createGitSource({ url: 'https://127.0.0.1:1/repo.git', workDir: fx.workDir(), env: fx.env, auth: { httpsToken: TOKEN } });
    const err = await rejection(src.sync());
    expect(err.kind).toBe('fetch-failed');
    expect(leaks(`${err.message} ${String(err.stack)}`, TOKEN)).toEqual([]);
  });

  it('redacts the token when the server echoes credentials back into git output', async () => {
    // A hostile or misconfigured server answers with a pkt-line that git prints verbatim in its error.
    const base = await listen((req, res) => {
      const basic = req.headers.authorization ?? '';
      const decoded = Buffer.from(basic.replace(/^Basic /, ''), 'base64').toString();
      const echo = `ERR ${basic} ${decoded} ${encodeURIComponent(TOKEN)} https://u:${TOKEN}@example.test/x\n`;
      const pkt = `${(echo.length + 4).toString(16).padStart(4, '0')}${echo}`;
      res.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' }).end(pkt);
    });
    const src = createGitSource({ url: `${base}/repo.git`, workDir: fx.workDir(), env: fx.env, auth: { httpsToken: TOKEN } });
    const err = await rejection(src.sync());
    expect(err.message).toContain('[REDACTED]');
    expect(leaks(err.message, TOKEN)).toEqual([]);
    expect(err.message).not.toContain(Buffer.from(`x-access-token:${TOKEN}`).toString('base64'));
  });

  it('authenticates with a Basic header and writes the token nowhere on disk', async () => {
    const rev = await fx.commit({ 'a.yaml': 'v: 1\n' });
    const seen: string[] = [];
    const base = await listen(gitHttpBackend(fx.root, fx.env, seen));
    const workDir = fx.workDir();
    const src = createGitSource({ url: `${base}/remote.git`, workDir, env: fx.env, auth: { httpsToken: TOKEN } });
    expect(await src.sync()).toMatchObject({ revision: rev, changed: true });
    const next = await fx.commit({ 'a.yaml': 'v: 2\n' });
    expect(await src.sync()).toMatchObject({ revision: next, changed: true });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((h) => h.startsWith('Basic '))).toBe(true);
    for (const file of await filesUnder(workDir)) {
      expect(leaks(await readFile(file, 'latin1'), TOKEN), file).toEqual([]);
    }
    expect(await readFile(join(workDir, '.git', 'config'), 'utf8')).not.toContain('extraheader');
  });

  it('fails with fetch-failed (not a prompt) when the server refuses the token', async () => {
    await fx.commit({ 'a.yaml': 'v\n' });
    const base = await listen(gitHttpBackend(fx.root, fx.env, []));
    const src = createGitSource({ url: `${base}/remote.git`, workDir: fx.workDir(), env: fx.env, auth: { httpsToken: 'wrong-token' } });
    const err = await rejection(src.sync());
    expect(err).toMatchObject({ kind: 'fetch-failed', transient: true });
    expect(err.message).not.toContain('wrong-token');
  });
});

describe('git source: slow remotes', () => {
  /** Resolves when every connection the server accepted has been closed by the client side. */
  async function clientsGone(): Promise<void> {
    expect(sockets.size).toBeGreaterThan(0);
    await Promise.all([...sockets].map((socket) => (socket.closed ? undefined : once(socket, 'close'))));
  }

  it('gives up with a transient timeout error when the server never answers, leaving no git process behind', async () => {
    const base = await listen(() => undefined);
    const src = createGitSource({ url: `${base}/remote.git`, workDir: fx.workDir(), env: fx.env, timeoutMs: 500 });
    expect(await rejection(src.sync())).toMatchObject({ kind: 'timeout', transient: true });
    // git's transport helper survives the kill of git itself; it must drop the connection on its own.
    await clientsGone();
  });

  it('stops a running fetch when the controller signal fires', async () => {
    const controller = new AbortController();
    // Abort as soon as git's request arrives, and never answer it.
    const base = await listen(() => controller.abort());
    const src = createGitSource({ url: `${base}/remote.git`, workDir: fx.workDir(), env: fx.env, signal: controller.signal, timeoutMs: 1000 });
    expect(await rejection(src.sync())).toMatchObject({ kind: 'aborted', transient: false });
    await clientsGone();
  });
});

describe('git source: ssh', () => {
  it('reports an unreachable ssh server as fetch-failed without prompting', async () => {
    const src = createGitSource({
      url: 'ssh://git@127.0.0.1:1/repo.git',
      workDir: fx.workDir(),
      env: fx.env,
      auth: { sshKeyFile: join(fx.root, 'no-such-key'), sshStrictHostKeyChecking: false },
    });
    const err = await rejection(src.sync());
    expect(err.kind).toBe('fetch-failed');
    expect(src.describe()).toBe('ssh://git@127.0.0.1:1/repo.git (default branch, path .)');
  });
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    if ((await stat(path)).isFile()) out.push(path);
  }
  return out;
}
