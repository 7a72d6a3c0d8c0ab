import { describe, expect, it } from 'vitest';
import { bodyText } from '../../../controller/dep/http.js';

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
