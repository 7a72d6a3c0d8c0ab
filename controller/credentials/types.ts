/**
 * `kind: Credential` (schemas/credential.schema.json): the yearly Apple credentials depctl watches besides the
 * DEP server tokens. The config holds references only (`{ file }` under the secrets directory, or `{ env }`).
 */
import type { SecretRef } from '../config/types.js';
import type { SourceLoc } from '../config/problems.js';

/** The kinds of credential in expiry reports and the metric's `kind` label. */
export type CredentialKind = 'dep-token' | 'apns' | 'vpp';

/** A declared credential after validation. */
export type CredentialDecl =
  | { name: string; type: 'apns'; certificate: SecretRef; password?: SecretRef; source: SourceLoc }
  | { name: string; type: 'vpp'; token: SecretRef; source: SourceLoc };
