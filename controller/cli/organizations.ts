/**
 * Connects each Organization (issue 15) to the Business API: its private key is read through its SecretRef
 * under the operator's trust policy (as MdmServer tokens are), `apiUrl` and `tokenUrl` must pass
 * `abmUrlProblem` (Apple's hosts or the operator's allow list), and a client is built. An Organization that
 * fails any of this gets an error instead of a client; the others go on. The key never reaches a message.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { currentCertPath } from '../tokens/key-paths.js';
import type { AbmClient } from '../abm/client.js';
import { ORGANIZATION_API_URLS, ORGANIZATION_TOKEN_URL } from '../config/organization.js';
import { abmUrlProblem, readSecretRef, secretRefProblem } from '../config/trust.js';
import type { DepConfig, MdmServer, Organization } from '../config/types.js';
import { planOwnership, type CertificateLookup, type OrganizationHandle } from '../ownership/engine.js';
import type { OrganizationPlan } from '../ownership/plan.js';
import type { ActivityStore } from '../ownership/ports.js';
import type { CliIo } from './io.js';
import { trustOf, type RuntimeSettings } from './runtime.js';

/** Organizations ready to talk to the Business API. */
export interface OrganizationConnections {
  handles: OrganizationHandle[];
  close(): Promise<void>;
}

/** Options of {@link connectOrganizations}. */
export interface ConnectOrganizationsOptions {
  /** Clock of the clients (token renewal); Date.now by default. */
  nowMs?: () => number;
  /**
   * Organizations that may not use their credentials (a pull request changed them): the value is the reason,
   * shown in the plan; no secret is read and no call is made for them.
   */
  untrusted?: ReadonlyMap<string, string>;
  /**
   * Clients kept across passes (`depctl run`): a client whose account, hosts and key are unchanged is reused,
   * so its access token (an hour) is not requested again every pass. The pool owns them; `close()` of the
   * connections then closes none of them.
   */
  pool?: OrganizationClientPool;
}

/** Business API clients kept across passes, by Organization name. */
export class OrganizationClientPool {
  private readonly clients = new Map<string, { fingerprint: string; client: AbmClient }>();

  /** The client for `name` when it was built from the same `fingerprint`; a stale one is closed. */
  async take(name: string, fingerprint: string): Promise<AbmClient | undefined> {
    const held = this.clients.get(name);
    if (held?.fingerprint === fingerprint) return held.client;
    if (held) {
      this.clients.delete(name);
      await held.client.close();
    }
    return undefined;
  }

  put(name: string, fingerprint: string, client: AbmClient): void {
    this.clients.set(name, { fingerprint, client });
  }

  /** Closes the clients of Organizations no longer configured. */
  async retain(names: ReadonlySet<string>): Promise<void> {
    for (const [name, held] of [...this.clients]) {
      if (names.has(name)) continue;
      this.clients.delete(name);
      await held.client.close();
    }
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((h) => h.client.close()));
  }
}

/** Builds one client per Organization, or the reason there is none. */
export async function connectOrganizations(orgs: readonly Organization[], settings: RuntimeSettings, io: CliIo, opts: ConnectOrganizationsOptions = {}): Promise<OrganizationConnections> {
  const handles: OrganizationHandle[] = [];
  const clients: AbmClient[] = [];
  const policy = trustOf(settings);
  const { createAbmClient } = await import('../abm/client.js');
  await opts.pool?.retain(new Set(orgs.map((o) => o.name)));
  for (const org of orgs) {
    const serverCertificate = (server: MdmServer): Promise<CertificateLookup> => findServerCertificate(server, policy, io.env);
    const fail = (error: string, cause: NonNullable<OrganizationHandle['cause']> = { kind: 'terminal', reason: 'token-unavailable' }): void =>
      void handles.push({ organization: org, client: null, error, cause });
    const untrusted = opts.untrusted?.get(org.name);
    if (untrusted !== undefined) {
      fail(untrusted, { kind: 'guardrail', reason: 'untrusted-credential-change' });
      continue;
    }
    // The same host rule as validation's, again here: only Apple's hosts or those the operator allowed.
    const urlProblem = [
      org.apiUrl !== ORGANIZATION_API_URLS[org.scope] ? abmUrlProblem('apiUrl', org.apiUrl, policy) : undefined,
      org.tokenUrl !== ORGANIZATION_TOKEN_URL ? abmUrlProblem('tokenUrl', org.tokenUrl, policy) : undefined,
    ].find((p) => p !== undefined);
    if (urlProblem !== undefined) {
      fail(`Organization "${org.name}": ${urlProblem}`, { kind: 'terminal', reason: 'endpoint-not-allowed' });
      continue;
    }
    const refProblem = secretRefProblem(org.privateKey, policy);
    if (refProblem !== undefined) {
      fail(`Organization "${org.name}": privateKey: ${refProblem}`);
      continue;
    }
    try {
      const pem = (await readSecretRef(org.privateKey, policy, io.env, `Organization "${org.name}": privateKey`)).toString('utf8');
      // The key enters the fingerprint only as a hash: a renewed key gets a new client, and the hash stays in memory.
      const fingerprint = JSON.stringify([org.scope, org.clientId, org.keyId, org.apiUrl, org.tokenUrl, createHash('sha256').update(pem).digest('hex'), settings.userAgent ?? null]);
      const pooled = await opts.pool?.take(org.name, fingerprint);
      if (pooled) {
        handles.push({ organization: org, client: pooled, error: null, serverCertificate });
        continue;
      }
      const client = createAbmClient({
        credentials: { clientId: org.clientId, keyId: org.keyId, privateKeyPem: pem, scope: org.scope, apiUrl: org.apiUrl, tokenUrl: org.tokenUrl },
        ...(settings.userAgent !== undefined ? { userAgent: settings.userAgent } : {}),
        ...(opts.nowMs ? { now: opts.nowMs } : {}),
      });
      if (opts.pool) opts.pool.put(org.name, fingerprint, client);
      else clients.push(client);
      handles.push({ organization: org, client, error: null, serverCertificate });
    } catch (err) {
      fail(err instanceof Error ? (err.message.includes(org.name) ? err.message : `Organization "${org.name}": ${err.message}`) : String(err));
    }
  }
  return {
    handles,
    close: async () => {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

/**
 * Why an Organization of an unmerged revision may not use credentials (new, or a changed credential or
 * endpoint field), or null when the trusted revision defines it the same way. Mirrors the MdmServer rule
 * (reconcile/remote-plan.ts credentialChange): a pull request never chooses keys, accounts or hosts.
 */
export function organizationCredentialChange(trusted: Organization | undefined, candidate: Organization): string | null {
  if (!trusted) return 'new Organization: credential or endpoint change: planned after merge only (validated offline)';
  const fields = ['scope', 'clientId', 'keyId', 'apiUrl', 'tokenUrl'] as const;
  const changed: string[] = fields.filter((f) => trusted[f] !== candidate[f]);
  if (JSON.stringify(trusted.privateKey) !== JSON.stringify(candidate.privateKey)) changed.push('privateKey');
  if (changed.length === 0) return null;
  return `credential or endpoint change: planned after merge only (${changed.join(', ')} differ from the trusted revision)`;
}

/** The untrusted map for {@link connectOrganizations} of a candidate revision against the trusted one. */
export function untrustedOrganizations(trusted: readonly Organization[] | undefined, candidate: readonly Organization[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of candidate ?? []) {
    const why = organizationCredentialChange(trusted?.find((t) => t.name === o.name), o);
    if (why !== null) out.set(o.name, `Organization "${o.name}": ${why}`);
  }
  return out;
}

/**
 * The ownership plans of an unmerged revision (`plan --untrusted`, the controller's remote plan): an
 * Organization is connected only when the trusted revision defines its credentials and endpoints the same
 * way; the others get "planned after merge only" without any secret read or call. Only reads the store
 * (open activities are not polled). Undefined when the candidate declares no Organization.
 */
export async function planUnmergedOwnership(
  trusted: DepConfig,
  candidate: DepConfig,
  settings: RuntimeSettings,
  io: CliIo,
  store: Pick<ActivityStore, 'listActivities'>,
  opts: { now: () => Date; signal?: AbortSignal },
): Promise<OrganizationPlan[] | undefined> {
  const orgs = candidate.organizations ?? [];
  if (orgs.length === 0) return undefined;
  const conns = await connectOrganizations(orgs, settings, io, { untrusted: untrustedOrganizations(trusted.organizations, orgs), nowMs: () => opts.now().getTime() });
  try {
    const readOnly: ActivityStore = {
      listActivities: (org, o) => store.listActivities(org, o),
      recordActivity: () => Promise.reject(new Error('a plan of an unmerged revision writes no activity')),
      updateActivity: () => Promise.reject(new Error('a plan of an unmerged revision writes no activity')),
      appendAudit: () => Promise.reject(new Error('a plan of an unmerged revision writes no audit entry')),
    };
    // A server's certificate is looked for (and checked against its key) only where the trusted revision names
    // the same key: a pull request never chooses which key file depctl reads.
    const handles = conns.handles.map((h) => {
      const find = h.serverCertificate;
      if (!find) return h;
      const serverCertificate = (server: MdmServer): Promise<CertificateLookup> => {
        const before = trusted.servers.find((s) => s.name === server.name);
        if (before && JSON.stringify(before.privateKey) === JSON.stringify(server.privateKey)) return find(server);
        return Promise.resolve({ ok: false, reason: 'its privateKey is new or changed in this unmerged revision, so its certificate is looked for after merge only' });
      };
      return { ...h, serverCertificate };
    });
    return (await planOwnership(candidate, handles, readOnly, { now: opts.now, poll: false, ...(opts.signal ? { signal: opts.signal } : {}) })).plans;
  } finally {
    await conns.close();
  }
}

/**
 * The public certificate of an MdmServer, to create its server in Apple Business/School Manager (API 2.1+):
 * next to its `privateKey` file, `KEY.cert.pem` (where `keys rotate` keeps the current key's) or
 * `depctl-cert.pem` (what `depctl keys generate` writes), read under the same trust rules as the key, and
 * checked to belong to that key. Null when the key is in an environment variable or no such file exists.
 */
export async function findServerCertificate(server: Pick<MdmServer, 'name' | 'privateKey'>, policy: ReturnType<typeof trustOf>, env: Readonly<Record<string, string | undefined>>): Promise<CertificateLookup> {
  const ref = server.privateKey;
  if (!('file' in ref)) return null;
  for (const file of [currentCertPath(ref.file), join(dirname(ref.file), 'depctl-cert.pem')]) {
    let pem: Buffer;
    try {
      pem = await readSecretRef({ file }, policy, env, `MdmServer "${server.name}": certificate`);
    } catch {
      continue;
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      return { ok: false, reason: `${file} is not a PEM certificate` };
    }
    try {
      const key = createPrivateKey(await readSecretRef(ref, policy, env, `MdmServer "${server.name}": privateKey`));
      if (!cert.checkPrivateKey(key)) return { ok: false, reason: `${file} is not the certificate of the key ${ref.file}` };
    } catch {
      return { ok: false, reason: `the key ${ref.file} cannot be read to check ${file} against it` };
    }
    return { ok: true, certificate: { name: basename(file), data: cert.raw.toString('base64') } };
  }
  return null;
}
