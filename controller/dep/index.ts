/**
 * Public surface of the DEP client. Other modules import from here (or from types.ts for shapes).
 */
export { createDepClient, type CallOptions, type DepClient, type DepClientOptions, type DisownOptions, type PageRequest } from './client.js';
export {
  DepAuthError,
  DepError,
  DepHttpError,
  DepNetworkError,
  DepProtocolError,
  DepTimeoutError,
  MAX_ERROR_BODY_BYTES,
  isCursorExhausted,
  isCursorExpired,
  isCursorInvalid,
  isCursorRequired,
  isDepError,
  isDepHttpError,
  isDeviceIdRequired,
  isProfileNotFound,
  isTerminalAuthError,
  isTransientDepError,
  parseDepErrorCode,
  type DepHttpErrorInit,
  type TerminalAuthReason,
} from './errors.js';
export type { DepRequestEvent } from './http.js';
export { normaliseFetchedProfile, type FetchedProfile } from './profile.js';
export type { RetryOptions } from './retry.js';
export { SESSION_HEADER } from './transport.js';
export * from './types.js';
