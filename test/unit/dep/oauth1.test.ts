import { describe, expect, it } from 'vitest';
import {
  baseStringUri,
  formatAuthorizationHeader,
  hmacSha1Signature,
  percentEncode,
  sessionAuthorizationHeader,
  signatureBaseString,
} from '../../../controller/dep/oauth1.js';
import { parseOAuthHeader } from './fake-dep-server.js';

describe('RFC 5849 published examples', () => {
  it('reproduces the section 1.2 signature for the photos.example.net request exactly', () => {
    // RFC 5849 section 1.2: GET http://photos.example.net/photos?file=vacation.jpg&size=original, client
    // secret kd94hf93k423kf44, token secret pfkkdhi9sl3r4s00; the RFC prints
    // oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D".
    const params: [string, string][] = [
      ['file', 'vacation.jpg'],
      ['size', 'original'],
      ['oauth_consumer_key', 'dpf43f3p2l4k3l03'],
      ['oauth_token', 'nnch734d00sl2jdk'],
      ['oauth_signature_method', 'HMAC-SHA1'],
      ['oauth_timestamp', '137131202'],
      ['oauth_nonce', 'chapoH'],
    ];
    const base = signatureBaseString('GET', 'http://photos.example.net/photos?file=vacation.jpg&size=original', params);
    const signature = hmacSha1Signature(base, 'kd94hf93k423kf44', 'pfkkdhi9sl3r4s00');
    expect(percentEncode(signature)).toBe('MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D');
  });

  it('reproduces the section 3.4.1.1 signature base string exactly', () => {
    // RFC 5849 section 3.4.1.1: POST http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b with body
    // c2&a3=2+q; parameters listed decoded as in section 3.4.1.3.1.
    const params: [string, string][] = [
      ['b5', '=%3D'],
      ['a3', 'a'],
      ['c@', ''],
      ['a2', 'r b'],
      ['oauth_consumer_key', '9djdj82h48djs9d2'],
      ['oauth_token', 'kkk9d7dh3k39sjv7'],
      ['oauth_signature_method', 'HMAC-SHA1'],
      ['oauth_timestamp', '137131201'],
      ['oauth_nonce', '7d8f3e4a'],
      ['c2', ''],
      ['a3', '2 q'],
    ];
    expect(signatureBaseString('POST', 'http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b', params)).toBe(
      'POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7',
    );
  });

  it('normalises base string URIs as in section 3.4.1.2', () => {
    expect(baseStringUri('http://EXAMPLE.COM:80/r%20v/X?id=123')).toBe('http://example.com/r%20v/X');
    expect(baseStringUri('https://www.example.net:8080/?q=1')).toBe('https://www.example.net:8080/');
  });

  it('percent-encodes the reserved characters encodeURIComponent leaves alone', () => {
    expect(percentEncode("a!b*c'd(e)f~g-h.i_j k+")).toBe('a%21b%2Ac%27d%28e%29f~g-h.i_j%20k%2B');
    expect(percentEncode('é')).toBe('%C3%A9');
  });
});

describe('Apple /session header', () => {
  // Apple's "Authenticating with the Automated Device Enrollment program" example uses these values
  // (realm ADM, timestamp and nonce borrowed from RFC 5849 section 3.5.1). Its printed signature,
  // wOJIO9A2W5mFwDgiDvZbTSMK%2FPY%3D, is copied from that RFC section, where it is illustrative: neither
  // document publishes the secrets behind it, so only the header's shape can be checked against Apple.
  const apple = {
    consumer_key: 'CK_00fadb3d36c6094cf479838455321b7c',
    access_token: 'AT_O2109279022Oe03b641fd6f07d7face7894211d521fd8bef09c3O137392',
    consumer_secret: 'CS_test-consumer-secret',
    access_secret: 'AS_test-access-secret',
  };

  it('has the parameter order and encoding of Apple example', () => {
    const header = sessionAuthorizationHeader({
      url: 'https://mdmenrollment.apple.com/session',
      token: apple,
      timestamp: 137131200,
      nonce: '4572616e48616d6d65724c61686176',
    });
    const withoutSignature = header.replace(/oauth_signature="[^"]*"/, 'oauth_signature="wOJIO9A2W5mFwDgiDvZbTSMK%2FPY%3D"');
    expect(withoutSignature).toBe(
      'OAuth realm="ADM", oauth_consumer_key="CK_00fadb3d36c6094cf479838455321b7c", oauth_token="AT_O2109279022Oe03b641fd6f07d7face7894211d521fd8bef09c3O137392", oauth_signature_method="HMAC-SHA1", oauth_signature="wOJIO9A2W5mFwDgiDvZbTSMK%2FPY%3D", oauth_timestamp="137131200", oauth_nonce="4572616e48616d6d65724c61686176", oauth_version="1.0"',
    );
  });

  it('signs the sorted oauth_* parameters (without realm) over the full session URL with CS&AS', () => {
    const url = 'https://mdmenrollment.apple.com/session';
    const header = sessionAuthorizationHeader({ url, token: apple, timestamp: 137131200, nonce: 'abc' });
    // The RFC 5849 base string (oauth_* parameters sorted, realm left out, the full session URL) is
    //   GET&https%3A%2F%2Fmdmenrollment.apple.com%2Fsession&oauth_consumer_key%3DCK_00fadb3d36c6094cf479838455321b7c%26oauth_nonce%3Dabc%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200%26oauth_token%3DAT_O2109279022Oe03b641fd6f07d7face7894211d521fd8bef09c3O137392%26oauth_version%3D1.0
    // and its HMAC-SHA1 keyed with "CS_test-consumer-secret&AS_test-access-secret", computed outside depctl
    // (printf '%s' "$BASE" | openssl dgst -sha1 -hmac "$KEY" -binary | base64), is:
    const expected = 'da75VMBcYMAdht9yJrtRbKh3oc0=';
    expect(parseOAuthHeader(header).get('oauth_signature')).toBe(expected);
    // A different path or secret gives a different signature: the URL and key really are signed.
    const other = sessionAuthorizationHeader({ url: 'https://proxy.example/dep/session', token: apple, timestamp: 137131200, nonce: 'abc' });
    expect(parseOAuthHeader(other).get('oauth_signature')).not.toBe(expected);
  });

  it('formats headers without a realm when none is given', () => {
    expect(formatAuthorizationHeader(undefined, [['oauth_nonce', 'a b']])).toBe('OAuth oauth_nonce="a%20b"');
  });
});
