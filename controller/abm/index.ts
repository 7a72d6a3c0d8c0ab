/**
 * Apple Business / School API: the typed client (client.ts), its credentials and client assertion
 * (credentials.ts), token manager (token.ts), typed errors (errors.ts) and shape checks (shapes.ts).
 * The simulator lives in controller/sim/abm/.
 */
export * from './types.js';
export * from './errors.js';
export { createClientAssertion, loadAbmPrivateKey, resolveAbmCredentials, type AbmCredentials, type AssertionClaims, type ResolvedAbmCredentials } from './credentials.js';
export { ACCESS_TOKEN_RENEW_FRACTION, ASSERTION_RENEW_FRACTION, JWT_BEARER_ASSERTION_TYPE, createAbmTokenManager, type AbmTokenManager, type AbmTokenManagerOptions } from './token.js';
export { abmRetryPolicy, type AbmRequestEvent, type AbmRetryOptions } from './http.js';
export { MAX_RESULT_CSV_BYTES, parseActivityResultsCsv } from './results.js';
export type { Page } from './shapes.js';
export { createAbmClient, type AbmCallOptions, type AbmClient, type AbmClientOptions, type ActivityRequest, type OrgDeviceListOptions, type WaitForActivityOptions } from './client.js';
