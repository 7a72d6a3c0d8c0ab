/**
 * DEP server tokens: key pair generation for the portal, `.p7m` decryption and encryption, token
 * validation, expiry and redaction-safe summaries. Import from here; the files behind it may move.
 */
export type { ServerToken } from '../dep/types.js';
export {
  generateKeyPair,
  DEFAULT_COMMON_NAME,
  DEFAULT_VALIDITY_DAYS,
  type GenerateKeyPairOptions,
  type GeneratedKeyPair,
} from './keypair.js';
export {
  encryptServerToken,
  decryptServerToken,
  loadServerToken,
  openServerToken,
  type EncryptServerTokenOptions,
  type OpenedServerToken,
  type TokenFileFormat,
} from './server-token.js';
export type { ContentCipher } from './cms.js';
export { parsePrivateKey } from './private-key.js';
export {
  validateServerToken,
  parseTokenText,
  tokenExpiry,
  tokenFingerprint,
  summarizeToken,
  type TokenExpiry,
  type TokenSummary,
} from './token.js';
export {
  TokenError,
  WrongKeyError,
  CorruptTokenError,
  WrongFileTypeError,
  InvalidKeyError,
  KeyRequiredError,
  InvalidTokenError,
  UnsupportedTokenError,
  InvalidCertificateError,
  isTokenError,
  type TokenErrorCode,
  type TokenInputRole,
  type DetectedFileKind,
  type InvalidKeyReason,
} from './errors.js';
