/**
 * The text envelopes around a token's PKCS#7: Apple's S/MIME file (MIME headers, then base64) and
 * PEM. Also recognises what an input file is, so each wrong kind of file gets its own message.
 *
 * Hand-written on purpose: the envelope is four fixed MIME headers and base64 (a MIME library would
 * accept far more than Apple ever sends and hide which wrong file an admin picked); the CMS inside is
 * decoded by node-forge (cms.ts).
 */
import { CorruptTokenError } from './errors.js';
import { kindOfPemLabel, pemBlocks } from './private-key.js';
import type { DetectedFileKind } from './errors.js';

/**
 * The MIME headers of a real Apple token, in Apple's order, LF line ends (verified on a real
 * token: dep-protocol.md section 1). `openssl smime` writes `application/x-pkcs7-mime` instead.
 */
const APPLE_HEADERS = [
  'Content-Type: application/pkcs7-mime; name="smime.p7m"; smime-type=enveloped-data',
  'Content-Transfer-Encoding: base64',
  'Content-Disposition: attachment; filename="smime.p7m"',
  'Content-Description: S/MIME Encrypted Message',
];

/** Apple's base64 line length (RFC 2045 maximum). */
const LINE = 76;

/** Wraps CMS bytes as Apple's `.p7m`: headers, blank line, base64 in 76-column lines. */
export function wrapSmime(cms: Buffer): string {
  const b64 = cms.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE) lines.push(b64.slice(i, i + LINE));
  return `${APPLE_HEADERS.join('\n')}\n\n${lines.join('\n')}\n`;
}

/** How an input file was recognised. */
export type TokenInput =
  | { kind: 'smime'; cms: Buffer }
  | { kind: 'pkcs7-der'; cms: Buffer }
  | { kind: 'pkcs7-pem'; cms: Buffer }
  | { kind: 'plaintext'; text: string }
  | { kind: 'wrong'; detected: DetectedFileKind };

/**
 * Recognises a token file: Apple's S/MIME `.p7m` (or `openssl smime` output), binary DER/BER
 * PKCS#7, PEM PKCS#7/CMS, headerless base64 PKCS#7, or already-decrypted text (the MIME part with
 * the MESSAGE markers, or JSON, possibly hard-wrapped).
 *
 * @throws CorruptTokenError when the file claims to be base64 PKCS#7 but the base64 is damaged.
 */
export function classifyTokenInput(bytes: Buffer): TokenInput {
  const start = bytes.findIndex((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
  if (start < 0) return { kind: 'wrong', detected: 'empty' };
  // A SEQUENCE tag (0x30) followed by a long-form or indefinite length: binary DER/BER.
  if (bytes[start] === 0x30 && start === 0 && (bytes[1] ?? 0) >= 0x80) return { kind: 'pkcs7-der', cms: bytes };
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0e-\x1f]/.test(text) || text.includes('\uFFFD')) return { kind: 'wrong', detected: 'binary' };

  const pem = pemBlocks(text);
  const first = pem[0];
  if (first && first.label !== 'MESSAGE') {
    if (first.label === 'PKCS7' || first.label === 'CMS') return { kind: 'pkcs7-pem', cms: decodeBase64(first.body) };
    return { kind: 'wrong', detected: kindOfPemLabel(first.label) };
  }

  const headers = readHeaders(text);
  if (headers) {
    const type = (headers.fields.get('content-type') ?? '').toLowerCase();
    if (/(^|\/)(x-)?pkcs7-mime\b/.test(type)) {
      const encoding = (headers.fields.get('content-transfer-encoding') ?? 'base64').toLowerCase().trim();
      if (encoding !== 'base64') return { kind: 'wrong', detected: 'text' };
      return { kind: 'smime', cms: decodeBase64(headers.body) };
    }
    if (type.startsWith('text/plain')) return { kind: 'plaintext', text };
    if (/pkcs7-signature|multipart\/signed/.test(type)) return { kind: 'wrong', detected: 'pkcs7_signed' };
    return { kind: 'wrong', detected: 'text' };
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || first?.label === 'MESSAGE') return { kind: 'plaintext', text };
  // Headerless base64 of a DER/BER SEQUENCE: "MI" (definite) or "MIA" (indefinite) prefix.
  if (/^MI[A-Za-z0-9+/]/.test(trimmed) && /^[A-Za-z0-9+/=\s]+$/.test(trimmed)) {
    return { kind: 'pkcs7-der', cms: decodeBase64(trimmed) };
  }
  return { kind: 'wrong', detected: 'text' };
}

interface MimeHeaders {
  fields: Map<string, string>;
  body: string;
}

/** Reads RFC 822-style headers (with folded continuation lines) up to the first empty line. */
function readHeaders(text: string): MimeHeaders | undefined {
  if (!/^[A-Za-z][A-Za-z0-9-]*:/.test(text)) return undefined;
  const lines = text.split(/\r?\n/);
  const fields = new Map<string, string>();
  let last: string | undefined;
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') break;
    if (/^[ \t]/.test(line) && last) {
      fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z][A-Za-z0-9-]*):(.*)$/.exec(line);
    if (!m) return undefined;
    last = (m[1] ?? '').toLowerCase();
    fields.set(last, (m[2] ?? '').trim());
  }
  return { fields, body: lines.slice(i + 1).join('\n') };
}

/** Strict base64 decoding: Node silently skips bad characters, which would hide corruption. */
function decodeBase64(text: string): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (clean.length === 0) throw new CorruptTokenError('the base64 body is empty');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new CorruptTokenError('the base64 body has invalid characters');
  if (clean.length % 4 === 1) throw new CorruptTokenError('the base64 body is truncated');
  return Buffer.from(clean, 'base64');
}
