/**
 * A strict fake of Apple's DEP service on 127.0.0.1 port 0 for HTTP unit tests (STYLE rule 10): each
 * expected request is queued with its reply, any unexpected request fails the test, and
 * `assertDone()` fails when an expectation was never used. It checks the OAuth signature of
 * `GET /session` itself, with its own RFC 5849 code (not the client's oauth1.ts, which would accept any
 * mistake the client makes), so every test that authenticates also tests signing.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServerToken } from '../../../controller/dep/types.js';

/** A test token; the values only look like Apple's. */
export const TEST_TOKEN: ServerToken = {
  consumer_key: 'CK_3a9f0c2d7e8b41a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7',
  consumer_secret: 'CS_0123456789abcdef0123456789abcdef01234567',
  access_token: 'AT_O1234567890Oabcdef0123456789abcdef0123456789abcdefO1700000000000',
  access_secret: 'AS_fedcba9876543210fedcba9876543210fedcba98',
  access_token_expiry: '2030-01-01T00:00:00Z',
};

/** A request the fake received. */
export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What the fake does with one expected request. */
export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { reset: true }
  | { hang: true };

interface Expectation {
  method: string;
  path: string;
  reply: Reply | ((req: Recorded) => Reply);
}

/** The running fake. */
export interface FakeDep {
  url: string;
  requests: Recorded[];
  /** Queues one expected request and its reply (FIFO). */
  expect(method: string, path: string, reply: Reply | ((req: Recorded) => Reply)): FakeDep;
  /** Queues a `GET /session` that checks the OAuth signature and returns `sessionToken`. */
  expectSession(sessionToken: string, token?: ServerToken): FakeDep;
  /** Throws if an expectation is unused or a request was unexpected. */
  assertDone(): void;
  close(): Promise<void>;
}

/** Parses an OAuth Authorization header into its parameters (decoded). */
export function parseOAuthHeader(header: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of header.replace(/^OAuth\s+/, '').matchAll(/([a-z_]+)="([^"]*)"/g)) {
    out.set(m[1] as string, decodeURIComponent(m[2] as string));
  }
  return out;
}

/** RFC 3986 percent-encoding as RFC 5849 section 3.6 asks (encodeURIComponent leaves !'()* alone). */
const pct = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * True when the header's signature is valid for GET `url` (no query) under `token`: the check a server
 * makes, spelled out from RFC 5849 section 3.4 (parameters without realm and signature, encoded, sorted,
 * joined; base string `GET&url&params`; HMAC-SHA1 keyed with `consumer_secret&access_secret`).
 */
export function verifySessionSignature(header: string, url: string, token: ServerToken): boolean {
  const p = parseOAuthHeader(header);
  const params = [...p]
    .filter(([k]) => k !== 'realm' && k !== 'oauth_signature')
    .map(([k, v]) => [pct(k), pct(v)] as const)
    .sort(([ka, va], [kb, vb]) => byCodeUnits(ka, kb) || byCodeUnits(va, vb))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const base = `GET&${pct(url)}&${pct(params)}`;
  const expected = createHmac('sha1', `${pct(token.consumer_secret)}&${pct(token.access_secret)}`).update(base).digest('base64');
  return p.get('oauth_signature') === expected;
}

/** Starts a fake on 127.0.0.1, port 0. */
export async function startFakeDep(): Promise<FakeDep> {
  const queue: Expectation[] = [];
  const requests: Recorded[] = [];
  const problems: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const rec: Recorded = { method: req.method ?? '', path: u.pathname, query: u.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(rec);
      const next = queue[0];
      if (!next || next.method !== rec.method || next.path !== rec.path) {
        problems.push(`unexpected ${rec.method} ${rec.path} (expected ${next ? `${next.method} ${next.path}` : 'nothing'})`);
        res.writeHead(599).end('UNEXPECTED');
        return;
      }
      queue.shift();
      const reply = typeof next.reply === 'function' ? next.reply(rec) : next.reply;
      if ('reset' in reply) {
        req.socket.destroy();
        return;
      }
      if ('hang' in reply) return;
      const body = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status, { 'Content-Type': 'application/json;charset=UTF8', ...reply.headers }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fake: FakeDep = {
    url,
    requests,
    expect(method, path, reply) {
      queue.push({ method, path, reply });
      return fake;
    },
    expectSession(sessionToken, token = TEST_TOKEN) {
      return fake.expect('GET', '/session', (req) =>
        verifySessionSignature(String(req.headers.authorization), `${url}/session`, token)
          ? { status: 200, body: { auth_session_token: sessionToken } }
          : { status: 401, body: 'signature_invalid' },
      );
    },
    assertDone() {
      const left = queue.map((e) => `${e.method} ${e.path}`);
      if (problems.length > 0 || left.length > 0) {
        throw new Error(`fake DEP: ${[...problems, ...left.map((l) => `unused expectation ${l}`)].join('; ')}`);
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

/**
 * Ends a test against the fake: fails it when an expectation went unused or a request was
 * unexpected, and always closes the client's dispatcher and the fake.
 */
export async function finishFakeDep(fake: FakeDep, dispatcher: { close(): Promise<void> }): Promise<void> {
  try {
    fake.assertDone();
  } finally {
    await dispatcher.close();
    await fake.close();
  }
}
