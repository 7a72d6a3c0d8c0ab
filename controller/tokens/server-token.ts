/**
 * Reading and writing DEP server token files (dep-protocol.md section 1): decrypt Apple's `.p7m`
 * with the MDM server's private key, or accept an already-decrypted token; and, for the simulator,
 * produce a `.p7m` in Apple's exact layout so the whole decrypt path runs end to end.
 */
import type { ServerToken } from '../dep/types.js';
import { decryptEnvelopedData, encryptEnvelopedData, parseEnvelopedData, CIPHERS, type ContentCipher } from './cms.js';
import { InvalidTokenError, KeyRequiredError, WrongFileTypeError } from './errors.js';
import { parsePrivateKey } from './private-key.js';
import { classifyTokenInput, wrapSmime } from './smime.js';
import { formatTokenMessage, parseTokenText, validateServerToken } from './token.js';

/** Options of {@link encryptServerToken}. */
export interface EncryptServerTokenOptions {
  /** Content encryption (default `aes128`, what Apple uses). */
  cipher?: ContentCipher;
}

/**
 * Encrypts a token to a certificate and returns the `.p7m` text exactly in Apple's layout: MIME
 * headers, a blank line, then base64 in 76-column lines of a BER indefinite-length CMS
 * EnvelopedData (RSA PKCS#1 v1.5 key transport) around Apple's MIME plaintext.
 *
 * @throws InvalidTokenError when `token` is not a valid token.
 * @throws InvalidCertificateError when the certificate is not a readable RSA certificate.
 */
export function encryptServerToken(
  token: ServerToken,
  certificatePem: string,
  opts: EncryptServerTokenOptions = {},
): string {
  const valid = validateServerToken(token);
  const cms = encryptEnvelopedData(formatTokenMessage(valid), certificatePem, opts.cipher ?? 'aes128');
  return wrapSmime(cms);
}

/** The shape a token file had. */
export type TokenFileFormat = 'smime' | 'pkcs7-der' | 'pkcs7-pem' | 'plaintext';

/** A token read from a file, with facts about the file that are safe to display. */
export interface OpenedServerToken {
  token: ServerToken;
  format: TokenFileFormat;
  /** Whether the file was encrypted (false for an already-decrypted token). */
  encrypted: boolean;
  /** Content encryption, e.g. `AES-128-CBC`, when the file was encrypted. */
  cipher?: string;
  /** The certificate the file was encrypted to (issuer and serial), when encrypted. */
  recipient?: string;
}

/**
 * Reads a token file in any accepted shape and returns the token plus facts about the file.
 * The key is needed only when the file is encrypted.
 *
 * @throws KeyRequiredError when the file is encrypted and no key is given.
 * @throws WrongKeyError, CorruptTokenError, WrongFileTypeError, InvalidKeyError,
 *   InvalidTokenError, UnsupportedTokenError (all {@link TokenError}s).
 */
export function openServerToken(fileBytes: Buffer | string, privateKeyPem?: string | Buffer): OpenedServerToken {
  const bytes = typeof fileBytes === 'string' ? Buffer.from(fileBytes, 'utf8') : fileBytes;
  const input = classifyTokenInput(bytes);
  switch (input.kind) {
    case 'wrong':
      throw new WrongFileTypeError('token', input.detected);
    case 'plaintext':
      return { token: parseTokenText(input.text), format: 'plaintext', encrypted: false };
    default: {
      // Parse before asking for the key, so a certificate or corrupt file is named as such.
      const data = parseEnvelopedData(input.cms);
      if (privateKeyPem === undefined) throw new KeyRequiredError();
      const plaintext = decryptEnvelopedData(data, parsePrivateKey(privateKeyPem));
      const first = data.recipients[0];
      return {
        token: parseDecrypted(plaintext),
        format: input.kind,
        encrypted: true,
        cipher: CIPHERS[data.cipher].label,
        ...(first ? { recipient: `${first.issuer}, serial ${first.serialHex}` } : {}),
      };
    }
  }
}

/**
 * Reads a token file; the key is optional and used only if the file is encrypted (an admin may
 * keep the decrypted token JSON instead of the `.p7m`).
 */
export function loadServerToken(fileBytes: Buffer | string, privateKeyPem?: string | Buffer): ServerToken {
  return openServerToken(fileBytes, privateKeyPem).token;
}

/**
 * Decrypts a server token file with the MDM server's private key. Accepts Apple's S/MIME `.p7m`,
 * DER/BER or PEM PKCS#7, and also already-decrypted text (then the key is not used).
 */
export function decryptServerToken(fileBytes: Buffer | string, privateKeyPem: string | Buffer): ServerToken {
  return openServerToken(fileBytes, privateKeyPem).token;
}

function parseDecrypted(plaintext: string): ServerToken {
  // Apple's plaintext is 7-bit ASCII (Content-Transfer-Encoding: 7bit); anything else is not a token.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0e-\x1f\x80-\xff]/.test(plaintext)) throw new InvalidTokenError(['the decrypted content is not text']);
  return parseTokenText(plaintext);
}
