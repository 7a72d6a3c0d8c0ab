/**
 * `kind: Organization` (issue 15): an Apple Business/School Manager organisation reached through its API
 * account. Built from a schema-valid document: the client ID's prefix must match the scope, the private key
 * reference follows the same trust rules as every secret reference, and `apiUrl`/`tokenUrl` may reach only
 * Apple's hosts or hosts the operator allowed (trust.ts abmUrlProblem), so a pull request cannot send the
 * signed client assertion or the bearer token elsewhere.
 */
import type { ProblemSink } from './problems.js';
import type { ParsedDoc } from './documents.js';
import { checkSecretRefs, locIn, type BuildContext } from './build.js';
import { abmUrlProblem } from './trust.js';
import type { Organization, OrganizationScope, SecretRef } from './types.js';

/**
 * Apple's API base per scope, including `/v1` (the shape controller/abm's client takes; its ABM_API_URLS).
 * Kept here because config depends on util only; a unit test holds the two equal.
 */
export const ORGANIZATION_API_URLS: Readonly<Record<OrganizationScope, string>> = {
  business: 'https://api-business.apple.com/v1',
  school: 'https://api-school.apple.com/v1',
};

/** Apple's token endpoint (controller/abm ABM_TOKEN_URL). */
export const ORGANIZATION_TOKEN_URL = 'https://account.apple.com/auth/oauth2/token';

const CLIENT_ID_PREFIX: Readonly<Record<OrganizationScope, string>> = { business: 'BUSINESSAPI.', school: 'SCHOOLAPI.' };

const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

/**
 * The API base the client takes: a URL without a path (`https://host[:port]` or `…/`) gets Apple's `/v1`;
 * a URL with a path (a proxy prefix, or `…/v1` written out) is kept as written, without a trailing slash.
 */
export function normaliseApiUrl(url: string): string {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') return `${u.origin}/v1`;
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** Builds an Organization from a schema-valid document and checks its client ID, key reference and hosts. */
export function buildOrganization(d: ParsedDoc, ctx: BuildContext, sink: ProblemSink): Organization {
  const spec = d.value['spec'] as Record<string, unknown>;
  const scope = spec['scope'] as OrganizationScope;
  const org: Organization = {
    name: d.name ?? '',
    scope,
    clientId: spec['clientId'] as string,
    keyId: spec['keyId'] as string,
    privateKey: spec['privateKey'] as SecretRef,
    apiUrl: ORGANIZATION_API_URLS[scope],
    tokenUrl: ORGANIZATION_TOKEN_URL,
    driftPolicy: (spec['driftPolicy'] as Organization['driftPolicy'] | undefined) ?? 'correct',
    unclaimedDevices: (spec['unclaimedDevices'] as Organization['unclaimedDevices'] | undefined) ?? 'ignore',
    source: locIn(d, ['metadata', 'name']),
  };
  if (typeof spec['maxChanges'] === 'number') org.maxChanges = spec['maxChanges'];
  const prefix = CLIENT_ID_PREFIX[scope];
  if (!org.clientId.startsWith(prefix)) {
    const other = scope === 'business' ? 'school' : 'business';
    sink.error('client-id-scope', locIn(d, ['spec', 'clientId']), `clientId of a ${scope} organization starts with ${prefix}; this one is for ${other} (set scope: ${other} or use the ${scope === 'business' ? 'Apple Business Manager' : 'Apple School Manager'} API account)`);
  }
  checkSecretRefs(d, [{ path: ['spec', 'privateKey'], label: 'privateKey', ref: org.privateKey }], ctx, sink);
  for (const field of ['apiUrl', 'tokenUrl'] as const) {
    const value = spec[field];
    if (typeof value !== 'string') continue;
    const problem = ctx.trust ? abmUrlProblem(field, value, ctx.trust) : undefined;
    if (problem !== undefined) {
      sink.error('abm-url-host', locIn(d, ['spec', field]), problem);
      continue;
    }
    const url = new URL(value);
    if (url.protocol === 'http:' && !LOCAL_HOSTS.includes(url.hostname)) {
      sink.warning('insecure-abm-url', locIn(d, ['spec', field]), `${field} uses plain http to a non-local host; the API account's assertion and bearer token would cross the network unencrypted`);
    }
    if (field === 'apiUrl') org.apiUrl = normaliseApiUrl(value);
    else org.tokenUrl = value;
  }
  return org;
}

/**
 * Reports two Organizations with one client ID: an API account belongs to one organisation, so its servers
 * would be split under two names and the per-organization rules (product families, server names) bypassed.
 */
export function checkOrganizationAccounts(orgs: readonly Organization[], sink: ProblemSink): void {
  const seen = new Map<string, Organization>();
  for (const org of orgs) {
    const first = seen.get(org.clientId);
    if (!first) {
      seen.set(org.clientId, org);
      continue;
    }
    const at = `${first.source.file}:${first.source.line}:${first.source.column}`;
    sink.error('ownership-conflict', org.source, `Organization "${org.name}" uses the API account ${org.clientId} of Organization "${first.name}" at ${at}; one organisation is one Organization document`, [
      { ...first.source, message: `Organization "${first.name}"` },
    ]);
  }
}
