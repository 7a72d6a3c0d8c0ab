/**
 * Typed errors for reading DEP server tokens and their keys. Messages are fixed sentences chosen by
 * us: they never quote the file's content, a key, a token field value or a library's internal
 * message, so they are safe to print and log (working agreement: secrets never reach logs).
 */

/** Machine-readable reason of a {@link TokenError}; stable, for JSON output and callers' switches. */
export type TokenErrorCode =
  | 'wrong_key'
  | 'corrupt_file'
  | 'wrong_file_type'
  | 'invalid_key'
  | 'key_required'
  | 'invalid_token'
  | 'unsupported'
  | 'invalid_certificate';

/** Which input a {@link WrongFileTypeError} is about. */
export type TokenInputRole = 'token' | 'key' | 'certificate';

/** What a misplaced file was recognised as, when we could tell. */
export type DetectedFileKind =
  | 'certificate'
  | 'private_key'
  | 'public_key'
  | 'encrypted_token'
  | 'pkcs7_signed'
  | 'pkcs7_other'
  | 'binary'
  | 'text'
  | 'empty';

/** Common base of every token error; `code` tells them apart without instanceof. */
export class TokenError extends Error {
  override readonly name: string = 'TokenError';
  constructor(
    /** Stable reason code. */
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The private key does not decrypt this token: the token was encrypted for another certificate. */
export class WrongKeyError extends TokenError {
  override readonly name = 'WrongKeyError';
  constructor(
    /** The certificate the token was encrypted to (issuer and serial; public information). */
    readonly recipient?: string,
  ) {
    super(
      'wrong_key',
      'the private key does not decrypt this token: ' +
        (recipient ? `the token was encrypted for the certificate ${recipient}` : 'it was encrypted for another certificate') +
        '; use the private key of the certificate uploaded to this MDM server in Apple Business Manager',
    );
  }
}

/** The file looks like a token but its base64 or ASN.1 is damaged (for example truncated). */
export class CorruptTokenError extends TokenError {
  override readonly name = 'CorruptTokenError';
  constructor(what: string) {
    super('corrupt_file', `the token file is corrupt (${what}); download it again from Apple Business Manager`);
  }
}

/** A file of another kind was given (a certificate as the token, a certificate as the key, ...). */
export class WrongFileTypeError extends TokenError {
  override readonly name = 'WrongFileTypeError';
  constructor(
    /** The input the file was given as. */
    readonly role: TokenInputRole,
    /** What the file looks like instead. */
    readonly detected: DetectedFileKind,
  ) {
    super('wrong_file_type', wrongTypeMessage(role, detected));
  }
}

const DETECTED: Record<DetectedFileKind, string> = {
  certificate: 'an X.509 certificate',
  private_key: 'a private key',
  public_key: 'a public key',
  encrypted_token: 'an encrypted DEP token',
  pkcs7_signed: 'a PKCS#7 signed-data file (a certificate bundle or signature)',
  pkcs7_other: 'a PKCS#7 file of a type other than enveloped data',
  binary: 'unrecognised binary data',
  text: 'unrecognised text',
  empty: 'empty',
};

const EXPECTED: Record<TokenInputRole, string> = {
  token: "a DEP server token (Apple's S/MIME .p7m, PKCS#7, or the decrypted token JSON)",
  key: 'a PEM RSA private key',
  certificate: 'a PEM X.509 certificate',
};

function wrongTypeMessage(role: TokenInputRole, detected: DetectedFileKind): string {
  return `the ${role} file is ${DETECTED[detected]}, not ${EXPECTED[role]}`;
}

/** Why a private key was refused. */
export type InvalidKeyReason = 'not_rsa' | 'encrypted' | 'unreadable';

/** The key file holds a private key we cannot use: not RSA, passphrase-protected, or malformed. */
export class InvalidKeyError extends TokenError {
  override readonly name = 'InvalidKeyError';
  constructor(readonly reason: InvalidKeyReason) {
    const text: Record<InvalidKeyReason, string> = {
      not_rsa: 'the private key is not an RSA key; DEP tokens are encrypted to an RSA certificate',
      encrypted:
        'the private key is encrypted with a passphrase; decrypt it first (openssl pkey -in KEY -out PLAIN.pem)',
      unreadable:
        'the private key cannot be read: it is malformed or in an unsupported format (expected PEM PKCS#1 or PKCS#8)',
    };
    super('invalid_key', text[reason]);
  }
}

/** The token is encrypted and no private key was given. */
export class KeyRequiredError extends TokenError {
  override readonly name = 'KeyRequiredError';
  constructor() {
    super('key_required', 'the token is encrypted; a private key is needed to decrypt it');
  }
}

/** The (decrypted) content is not a DEP server token; lists offending field names, never values. */
export class InvalidTokenError extends TokenError {
  override readonly name = 'InvalidTokenError';
  constructor(
    /** Human-readable problems, e.g. `consumer_key: missing`; field names only. */
    readonly problems: readonly string[],
  ) {
    super('invalid_token', `the content is not a DEP server token: ${problems.join('; ')}`);
  }
}

/** The token uses an algorithm we do not implement (for example RSA-OAEP key transport). */
export class UnsupportedTokenError extends TokenError {
  override readonly name = 'UnsupportedTokenError';
  constructor(what: string) {
    super('unsupported', `the token uses an unsupported ${what}`);
  }
}

/** The certificate given to encrypt a token is not a usable RSA certificate. */
export class InvalidCertificateError extends TokenError {
  override readonly name = 'InvalidCertificateError';
  constructor(what: string) {
    super('invalid_certificate', `the certificate cannot be used: ${what}`);
  }
}

/** True when `err` is one of our token errors. */
export function isTokenError(err: unknown): err is TokenError {
  return err instanceof TokenError;
}
