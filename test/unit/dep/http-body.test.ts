import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DepProtocolError } from '../../../controller/dep/errors.js';
import { bodyText, exchange, MAX_RESPONSE_BYTES } from '../../../controller/dep/http.js';
import { startBodyServer, uncaughtDuring, type BodyServer } from '../../helpers/body-server.js';

describe('bodyText', () => {
  it('reads ASCII bytes as the same string UTF-8 decoding gives', () => {
    const text = JSON.stringify({ devices: [{ serial_number: 'C02X1', description: 'iPad Air 11-inch (M2) \\u2033' }], cursor: 'MTY6', more_to_follow: false });
    const buf = Buffer.from(text, 'utf8');
    expect(bodyText(buf)).toBe(text);
    expect(bodyText(Buffer.alloc(0))).toBe('');
  });

  it('decodes multi-byte UTF-8 (an asset tag with accents, a description with a double prime) as UTF-8', () => {
    const text = JSON.stringify({ devices: [{ serial_number: 'C02X2', asset_tag: 'Salle Ézé 12', description: 'iPad Pro 11″ 🍎' }] });
    const buf = Buffer.from(text, 'utf8');
    expect(buf.length).toBeGreaterThan(text.length);
    expect(bodyText(buf)).toBe(text);
    // Latin-1 would have read every byte as a character of its own.
    expect(bodyText(buf)).not.toBe(buf.toString('latin1'));
  });

  it('turns invalid UTF-8 into U+FFFD, as before', () => {
    const buf = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    expect(bodyText(buf)).toBe('{"a":"\uFFFD\uFFFD"}');
  });
});

describe('exchange reads the body with bodyText', () => {
  // The reading of a response must go through bodyText: it once stood beside exchange, tested, while exchange
  // still decoded every page as UTF-8 (what a million-device sync spent 2.3 s of CPU on).
  let server: BodyServer;
  let url: string;
  const bodies: Record<string, Buffer> = {
    '/ascii': Buffer.from(JSON.stringify({ devices: [{ serial_number: 'C02X1', description: 'iPad Air \\u2033' }], more_to_follow: false })),
    '/utf8': Buffer.from(JSON.stringify({ devices: [{ serial_number: 'C02X2', asset_tag: 'Salle Ézé 🍎' }] })),
  };
  beforeAll(async () => {
    server = await startBodyServer(bodies);
    url = server.url;
  });
  afterAll(() => server.close());

  it('refuses a body over the bound, declared or streamed, with a protocol error (not retried); one at the bound is read', async () => {
    const agent = new Agent();
    try {
      const settings = { dispatcher: agent, timeoutMs: 5000, secrets: () => [], maxResponseBytes: 1024 };
      const get = (path: string) => exchange(settings, { method: 'POST', url: `${url}${path}`, endpoint: path, headers: {} });
      // undici reports a body given up before its end as an `error` event; unheard, it ends the process.
      const uncaught = await uncaughtDuring(async () => {
        await expect(get('/declared')).rejects.toThrow(new DepProtocolError('/declared', 'response of 1025 bytes is larger than the 1024 bytes accepted'));
        await expect(get('/chunked')).rejects.toThrow(new DepProtocolError('/chunked', 'response body is larger than the 1024 bytes accepted'));
        expect((await get('/exact')).body).toBe('y'.repeat(1024));
      });
      expect(uncaught).toEqual([]);
      // The default bound is far above any DEP page and far below what would exhaust the controller's memory.
      expect(MAX_RESPONSE_BYTES).toBe(64 * 1024 * 1024);
    } finally {
      await agent.close();
    }
  });

  it('decodes an ASCII body without UTF-8 decoding, and a non-ASCII one as UTF-8, each to the text sent', async () => {
    const agent = new Agent();
    const toString = vi.spyOn(Buffer.prototype, 'toString');
    try {
      const settings = { dispatcher: agent, timeoutMs: 5000, secrets: () => [] };
      for (const [path, bytes] of Object.entries(bodies)) {
        const sent = bytes.toString('utf8');
        toString.mockClear();
        const res = await exchange(settings, { method: 'GET', url: `${url}${path}`, endpoint: path, headers: {} });
        // How the body's own bytes were decoded (undici may decode other buffers for itself).
        const decodings = toString.mock.calls.filter((_, i) => (toString.mock.contexts[i] as Buffer).length === bytes.length).map((args) => args[0]);
        expect(res.body).toBe(sent);
        expect(decodings).toEqual([path === '/ascii' ? 'latin1' : 'utf8']);
      }
    } finally {
      toString.mockRestore();
      await agent.close();
    }
  });
});
