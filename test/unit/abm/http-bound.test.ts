/**
 * The Business API client's bound on a response body: a body over it, declared by content-length or streamed,
 * is an AbmProtocolError and the rest is not read; the body given up must not surface as an uncaught error
 * (undici reports a body destroyed before its end as an `error` event, which once had no listener here).
 */
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbmProtocolError } from '../../../controller/abm/errors.js';
import { exchange } from '../../../controller/abm/http.js';
import { startBodyServer, uncaughtDuring, type BodyServer } from '../../helpers/body-server.js';

let server: BodyServer;
beforeAll(async () => {
  server = await startBodyServer();
});
afterAll(() => server.close());

describe('Business API exchange: the response bound', () => {
  it('refuses a body over the bound, declared or streamed; one at the bound is read', async () => {
    const agent = new Agent();
    try {
      const settings = { dispatcher: agent, timeoutMs: 5000, secrets: () => [] };
      const get = (path: string) => exchange(settings, { method: 'GET', url: `${server.url}${path}`, endpoint: path, headers: {}, maxBytes: 1024 });
      const uncaught = await uncaughtDuring(async () => {
        await expect(get('/declared')).rejects.toThrow(new AbmProtocolError('/declared', 'response of 1025 bytes is larger than the 1024 bytes accepted'));
        await expect(get('/chunked')).rejects.toThrow(new AbmProtocolError('/chunked', 'response is larger than the 1024 bytes accepted'));
        expect((await get('/exact')).body).toBe('y'.repeat(1024));
      });
      // The destroyed bodies' events have been delivered by now (a request after them completed).
      expect(uncaught).toEqual([]);
    } finally {
      await agent.close();
    }
  });
});
