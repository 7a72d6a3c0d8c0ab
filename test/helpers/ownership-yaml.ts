/**
 * The Organization document the ownership integration tests write: the Business API simulator's account, key
 * file and URLs, plus any extra `spec` lines (each indented two spaces, ending in a newline).
 */
export function organizationYaml(abm: { account: { clientId: string; keyId: string }; url: string; tokenUrl: string }, opts: { keyFile?: string; extra?: string } = {}): string {
  return `apiVersion: depctl/v1
kind: Organization
metadata: { name: acme }
spec:
  scope: business
  clientId: ${abm.account.clientId}
  keyId: ${abm.account.keyId}
  privateKey: { file: ${opts.keyFile ?? 'abm/key.pem'} }
  apiUrl: ${abm.url}
  tokenUrl: ${abm.tokenUrl}
${opts.extra ?? ''}`;
}
