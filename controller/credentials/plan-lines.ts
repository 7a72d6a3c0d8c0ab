/**
 * The credential findings a plan shows (text and markdown): declared APNs and Apps and Books credentials within
 * 30 days of expiry, expired, or refused, with their renewal steps. DEP tokens are in the plan already (the
 * server's `token-expiry` drift). Nothing when every credential is fine.
 */
import type { CredentialDecl } from './types.js';
import type { TrustPolicy } from '../config/trust.js';
import { checkCredentials, secretReader, type CredentialStore } from './watch.js';

/** The lines to append to a plan, or '' when no declared credential needs attention. */
export async function credentialPlanLines(
  decls: readonly CredentialDecl[],
  policy: TrustPolicy,
  env: Readonly<Record<string, string | undefined>>,
  store: CredentialStore,
  now: Date,
  format: 'text' | 'markdown',
): Promise<string> {
  const statuses = (await checkCredentials(decls, secretReader(policy, env), store, now)).filter((s) => s.level !== 'ok');
  if (statuses.length === 0) return '';
  const out: string[] = ['', format === 'markdown' ? '### Credentials' : 'Credentials:'];
  for (const s of statuses) {
    const label = s.level === 'warning' ? 'warning' : 'error';
    out.push(format === 'markdown' ? `- **${label}** ${s.kind} \`${s.name}\`: ${s.message}` : `  ${label}: ${s.kind} ${s.name}: ${s.message}`);
    s.renewal.forEach((step, i) => out.push(format === 'markdown' ? `  ${i + 1}. ${step}` : `      ${i + 1}. ${step}`));
  }
  return `${out.join('\n')}\n`;
}
