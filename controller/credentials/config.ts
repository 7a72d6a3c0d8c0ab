/**
 * Builds `kind: Credential` documents (the loader calls this like buildServer): the fields its `type` needs,
 * and the same secret-reference rule as MdmServer (never a file inside the config repository).
 */
import type { ParsedDoc } from '../config/documents.js';
import type { ProblemSink } from '../config/problems.js';
import { checkSecretRefs, locIn, type BuildContext } from '../config/build.js';
import type { SecretRef } from '../config/types.js';
import type { CredentialDecl } from './types.js';

const FIELDS = { apns: ['certificate', 'password'], vpp: ['token'] } as const;
const REQUIRED = { apns: 'certificate', vpp: 'token' } as const;

/** Builds a Credential from a schema-valid document; problems go to the sink (the result is then unused). */
export function buildCredential(d: ParsedDoc, ctx: BuildContext, sink: ProblemSink): CredentialDecl {
  const spec = d.value['spec'] as Record<string, unknown>;
  const type = spec['type'] as 'apns' | 'vpp';
  const name = d.name ?? '';
  const source = locIn(d, ['metadata', 'name']);
  const required = REQUIRED[type];
  if (spec[required] === undefined) {
    sink.error('missing-key', locIn(d, ['spec']), `a Credential of type ${type} needs spec.${required}`);
  }
  for (const key of ['certificate', 'password', 'token'] as const) {
    if (spec[key] === undefined) continue;
    if (!(FIELDS[type] as readonly string[]).includes(key)) {
      sink.error('unknown-key', locIn(d, ['spec', key]), `spec.${key} does not apply to a Credential of type ${type} (it takes ${FIELDS[type].join(', ')})`);
      continue;
    }
    checkSecretRefs(d, [{ path: ['spec', key], label: key, ref: spec[key] as SecretRef }], ctx, sink);
  }
  if (type === 'apns') {
    const password = spec['password'] as SecretRef | undefined;
    return { name, type, certificate: spec['certificate'] as SecretRef, ...(password ? { password } : {}), source };
  }
  return { name, type, token: spec['token'] as SecretRef, source };
}
