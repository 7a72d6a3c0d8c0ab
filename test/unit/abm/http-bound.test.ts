/**
 * The Business API client's bound on a response body: a body over it, declared by content-length or streamed,
 * is an AbmProtocolError and the rest is not read; the body given up must not surface as an uncaught error
 * (undici reports a body destroyed before its end as an `error` event, which once had no listener here).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbmProtocolError } from '../../../controller/abm/errors.js';
import { exchange } from '../../../controller/abm/http.js';

let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/chunked') {
      for (let i = 0; i < 4; i++) res.write('x'.repeat(400));
      res.end();
      return;
    }
    res.end(req.url === '/exact' ? 'y'.repeat(1024) : 'z'.repeat(1025));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('Business API exchange: the response bound', () => {
  it('refuses a body over the bound, declared or streamed; one at the bound is read', async () => {
    const agent = new Agent();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const settings = { dispatcher: agent, timeoutMs: 5000, secrets: () => [] };
      const get = (path: string) => exchange(settings, { method: 'GET', url: `${url}${path}`, endpoint: path, headers: {}, maxBytes: 1024 });
      await expect(get('/declared')).rejects.toThrow(new AbmProtocolError('/declared', 'response of 1025 bytes is larger than the 1024 bytes accepted'));
      await expect(get('/chunked')).rejects.toThrow(new AbmProtocolError('/chunked', 'response is larger than the 1024 bytes accepted'));
      expect((await get('/exact')).body).toBe('y'.repeat(1024));
      // The destroyed bodies' events have been delivered by now (a request after them completed).
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await agent.close();
    }
  });
});
