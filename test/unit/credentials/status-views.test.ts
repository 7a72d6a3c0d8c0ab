import { describe, expect, it } from 'vitest';
import { renderStatusText } from '../../../controller/cli/views/status-text.js';
import type { StatusReport } from '../../../controller/cli/views/status-common.js';
import { renderStatusPage } from '../../../controller/server/status-page.js';
import { expiryStatus } from '../../../controller/credentials/watch.js';
import { renewalStepsAfterStaging, type RenewalStatus } from '../../../controller/tokens/rotation.js';
import type { ControllerStatus } from '../../../controller/reconcile/status.js';
import { sampleStatus } from '../server/sample-status.js';

const NOW = new Date('2026-12-06T14:00:00Z');

function withRenewalAndCredentials(): ControllerStatus {
  const s = sampleStatus(NOW);
  const renewal: RenewalStatus = {
    state: 'staged',
    summary: 'renewal in progress',
    message: 'a new key is staged at /secrets/main/key.next.pem; the current token keeps working until a renewed one arrives',
    stepsLeft: renewalStepsAfterStaging('/secrets/main/key.pem', '/secrets/main/token.p7m'),
    stagedKey: '/secrets/main/key.next.pem',
    tokenFile: '/secrets/main/token.p7m',
    since: NOW.toISOString(),
  };
  const first = s.servers[0];
  if (!first) throw new Error('sample has no server');
  s.servers[0] = { ...first, renewal };
  s.credentials = [
    expiryStatus('apns', 'push<script>', new Date(NOW.getTime() + 5 * 86_400_000), NOW, { topic: 'com.apple.mgmt.External.x' }),
    expiryStatus('vpp', 'paris', new Date(NOW.getTime() + 90 * 86_400_000), NOW, { location: 'Paris' }),
  ];
  return s;
}

describe('renewal and credentials in status views', () => {
  it('depctl status lists the renewal steps left and each credential, with renewal steps only where needed', () => {
    const { servers, recentRuns, credentials, ...controller } = withRenewalAndCredentials();
    const report: StatusReport = { source: { kind: 'controller', url: 'http://127.0.0.1:8080/api/status' }, generatedAt: NOW.toISOString(), controller, servers, recentRuns, ...(credentials ? { credentials } : {}) };
    const text = renderStatusText(report, { now: NOW });
    expect(text).toContain('  token renewal   renewal in progress (staged): a new key is staged at /secrets/main/key.next.pem');
    expect(text).toContain('    1. upload the public key /secrets/main/key.next.cert.pem in Apple Business Manager: Preferences → your MDM server → Edit → upload public key');
    expect(text).toContain('    3. place it at /secrets/main/token.p7m (replacing the current token)');
    expect(text).toContain('Credentials (expiry):\n  critical apns      push<script>: the APNs push certificate push<script> expires in 5 day(s), on 2026-12-11; renew it\n      1. ');
    expect(text).toContain('  ok       vpp       paris: the Apps and Books token paris expires on 2027-03-06 (90 days left)\n\n');
  });

  it('the status page shows the renewal block and a Credentials table, escaped', () => {
    const html = renderStatusPage(withRenewalAndCredentials(), { now: NOW });
    expect(html).toMatch(/data-testid="renewal-[^"]+" data-state="staged"><strong>Token renewal in progress<\/strong>/);
    expect(html).toContain('<li>download the new server token (Download Token) for that MDM server</li>');
    expect(html).toContain('<h2>Credentials</h2>');
    expect(html).toContain('data-testid="credential-apns-push&#60;script&#62;" data-level="critical"');
    expect(html).not.toContain('push<script>');
    expect(html).toContain('data-testid="credential-vpp-paris" data-level="ok"');
  });
});
