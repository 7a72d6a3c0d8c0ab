/**
 * A strict fake of Apple's token endpoint and Business API on 127.0.0.1 port 0 for HTTP unit tests
 * (STYLE rule 10): each expected request is queued with its reply, an unexpected request fails, and
 * `assertDone()` fails when an expectation was left unused. Replies may be held back (a gate) so that
 * tests can line up concurrent callers. It verifies client assertions with its own code (node crypto),
 * not the client's or the simulator's.
 */
import { createPublicKey, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
  form: URLSearchParams;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Hold the reply until this promise settles. */
  gate?: Promise<void>;
}

interface Expectation {
  method: string;
  path: string;
  reply: Reply | ((r: Recorded) => Reply);
}

export interface FakeAbm {
  url: string;
  requests: Recorded[];
  expect(method: string, path: string, reply: Reply | ((r: Recorded) => Reply)): FakeAbm;
  unexpected: string[];
  assertDone(): void;
  close(): Promise<void>;
}

export async function startFakeAbm(): Promise<FakeAbm> {
  const queue: Expectation[] = [];
  const requests: Recorded[] = [];
  const unexpected: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = Buffer.concat(chunks).toString('utf8');
      const rec: Recorded = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, form: new URLSearchParams(body) };
      requests.push(rec);
      const i = queue.findIndex((e) => e.method === rec.method && e.path === rec.path);
      if (i < 0) {
        unexpected.push(`${rec.method} ${rec.path}`);
        res.writeHead(599).end();
        return;
      }
      const [e] = queue.splice(i, 1) as [Expectation];
      const reply = typeof e.reply === 'function' ? e.reply(rec) : e.reply;
      void (reply.gate ?? Promise.resolve()).then(() => {
        const text = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status, { 'Content-Type': 'application/json', ...reply.headers }).end(text);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeAbm = {
    url: `http://127.0.0.1:${port}`,
    requests,
    unexpected,
    expect(method, path, reply) {
      queue.push({ method, path, reply });
      return fake;
    },
    assertDone() {
      if (unexpected.length > 0) throw new Error(`unexpected requests: ${unexpected.join(', ')}`);
      if (queue.length > 0) throw new Error(`unused expectations: ${queue.map((e) => `${e.method} ${e.path}`).join(', ')}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return fake;
}

/** Decodes a compact JWS and checks its ES256 signature with `publicKeyPem`; throws when it does not verify. */
export function verifyAssertion(jwt: string, publicKeyPem: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, c, s] = jwt.split('.');
  if (h === undefined || c === undefined || s === undefined) throw new Error('not a compact JWS');
  const ok = verify('sha256', Buffer.from(`${h}.${c}`), { key: createPublicKey(publicKeyPem), dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('signature does not verify');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

/** A token reply. */
export function tokenReply(accessToken: string, expiresIn = 3600): Reply {
  return { status: 200, body: { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, scope: 'business.api' } };
}
