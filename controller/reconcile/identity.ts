/**
 * Server identity: which MDM server in Apple Business Manager a server token belongs to. Apple's
 * `GET /account` names it by `server_uuid` (system-generated and unique in the organisation) and by
 * `server_name` (set by a person, and renamable), so only the UUID is compared (Apple, "Get Account
 * Detail", Discussion; nanodep calls the same endpoint in godep/account.go, and Fleet reads `org_name` and
 * `server_name` from it when a token is uploaded, fleetdm/fleet#7515).
 *
 * Every pass asks once per server, before any fetch or write (planner.ts). The first answer is recorded;
 * a later answer with another UUID means the token now opens another MDM server (a token downloaded for the
 * wrong server, or two token files swapped). Reconciling then would read that server's devices as if they
 * were ours and, with `unassignedDevices: remove`, strip another MDM's profiles: so the server stops with a
 * terminal `server-changed` problem, and only an operator accepts the change (`adoptServerChange`), never
 * the repository.
 */
import type { AccountDetail } from '../dep/types.js';
import { MAX_FETCH_LIMIT } from '../dep/types.js';
import { problemFromError, type ServerProblem } from './outcome.js';
import type { CallOptions, IdentityStore, ReconcileDepClient, ServerRecord, ServerUpdate } from './ports.js';

/** Who Apple says a server token belongs to: the fields of `GET /account` depctl keeps. */
export interface ServerIdentity {
  /** Apple's `server_uuid` (32 upper-case hex digits on Apple, dashed on depsim): the identity itself. */
  serverUuid: string;
  /** Apple's `server_name`, the MDM server's name in Apple Business Manager. */
  serverName: string;
  orgName: string;
  /** `edu` or `org` (protocol v3 and later), or null when Apple did not say. */
  orgType: string | null;
  /** Apple's `org_id` (protocol v3 and later), or null. */
  orgId: string | null;
}

/** An identity as the store last confirmed it, with the time; plans, status and `token inspect` show this. */
export interface RecordedIdentity extends ServerIdentity {
  /** ISO 8601 time `GET /account` last confirmed it, or null when unknown. */
  checkedAt: string | null;
}

/** Page sizes for `POST /server/devices` and `POST /devices/sync`. */
export interface PageLimits {
  fetch: number;
  sync: number;
}

/** What the identity check found for one server in one pass. */
export type IdentityCheck =
  /** The token is for the recorded server (or the first one recorded); go on with these page sizes. */
  | { ok: true; identity: ServerIdentity; first: boolean; pageLimits: PageLimits }
  /** Stop this server: the token belongs to another server (terminal), or Apple did not answer (transient). */
  | { ok: false; problem: ServerProblem; identity: ServerIdentity | null };

/** The identity fields of `GET /account`. */
export function identityFromAccount(a: AccountDetail): ServerIdentity {
  return { serverUuid: a.server_uuid, serverName: a.server_name, orgName: a.org_name, orgType: a.org_type ?? null, orgId: a.org_id ?? null };
}

/** The identity a server record holds, or null when none was recorded yet. */
export function identityOfRecord(r: ServerRecord | undefined): RecordedIdentity | null {
  if (!r?.serverUuid) return null;
  return {
    serverUuid: r.serverUuid,
    serverName: r.appleServerName ?? '',
    orgName: r.orgName ?? '',
    orgType: r.orgType,
    orgId: r.orgId,
    checkedAt: r.identityCheckedAt?.toISOString() ?? null,
  };
}

/**
 * Page sizes from the account's `urls[].limit.maximum` for the fetch and sync paths, never above Apple's
 * documented 1000 (real accounts advertise 5000: dep-protocol.md, "GET /account"); 1000 when Apple gives no
 * usable limit.
 */
export function pageLimitsFromAccount(a: AccountDetail): PageLimits {
  const limitOf = (uri: string): number => {
    const max = a.urls?.find((u) => u.uri === uri)?.limit?.maximum;
    return typeof max === 'number' && Number.isInteger(max) && max > 0 ? Math.min(max, MAX_FETCH_LIMIT) : MAX_FETCH_LIMIT;
  };
  return { fetch: limitOf('/server/devices'), sync: limitOf('/devices/sync') };
}

/** `Apple server "Paris MDM" (org Lycée Voltaire, uuid 6666ED66…)`: one identity on one line. */
export function describeIdentity(i: ServerIdentity): string {
  return `Apple server "${i.serverName}" (org ${i.orgName}, uuid ${i.serverUuid})`;
}

/**
 * The line plans show for a server in their header: `paris → Apple server "Paris MDM" (org …, uuid …)`.
 * `changed` (a `server-changed` stop) says the identity shown is the recorded one the token no longer opens.
 */
export function identityLine(server: string, identity: ServerIdentity | null, changed: boolean): string {
  if (identity === null) return `${server} → Apple server not known yet (GET /account has not answered for this token)`;
  return `${server} → ${describeIdentity(identity)}${changed ? ', as recorded: the token now opens another server (see below)' : ''}`;
}

/** The operator command that accepts a changed server (the message and `--help` say the same). */
export function adoptCommand(server: string): string {
  return `depctl apply --adopt-server ${server}`;
}

/** The message of the `server-changed` stop: both servers, and how to accept the change. */
export function serverChangedMessage(server: string, recorded: ServerIdentity, current: ServerIdentity): string {
  return (
    `the token of server "${server}" now belongs to another MDM server: it was "${recorded.serverName}" (uuid ${recorded.serverUuid}), ` +
    `it is now "${current.serverName}" (uuid ${current.serverUuid}); nothing was fetched or changed on this server. ` +
    `If the new token is right, accept the change with \`${adoptCommand(server)}\` (for the controller: \`depctl run --adopt-server ${server}\`), ` +
    `which records the new server and forgets the devices stored for the old one; otherwise put back the token of "${recorded.serverName}"`
  );
}

/** Options of checkServerIdentity and adoptServerChange. */
export interface IdentityOptions extends CallOptions {
  now: () => Date;
}

/** The store update that records an identity as confirmed at `at`. */
function identityUpdate(i: ServerIdentity, at: Date): ServerUpdate {
  return { serverUuid: i.serverUuid, appleServerName: i.serverName, orgName: i.orgName, orgType: i.orgType, orgId: i.orgId, identityCheckedAt: at, at };
}

/**
 * Asks Apple which MDM server the token belongs to (one `GET /account`) and compares it with the store.
 * First contact records it; the same UUID refreshes the names (a server renamed in the portal keeps its
 * UUID) and the check time; another UUID stops the server with a terminal `server-changed` problem and
 * records nothing. A failed call stops the server for this pass only (transient, or Apple's terminal auth
 * answer): nothing is fetched with a token whose server is not confirmed.
 */
export async function checkServerIdentity(server: string, client: ReconcileDepClient, store: IdentityStore, opts: IdentityOptions): Promise<IdentityCheck> {
  const record = await store.getServer(server);
  const recorded = identityOfRecord(record);
  let account: AccountDetail;
  try {
    account = await client.account(opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    return { ok: false, problem: problemFromError(server, err, opts.now()), identity: recorded };
  }
  const current = identityFromAccount(account);
  if (recorded && recorded.serverUuid !== current.serverUuid) {
    const problem: ServerProblem = { server, kind: 'terminal', reason: 'server-changed', message: serverChangedMessage(server, recorded, current), retryAt: null };
    return { ok: false, problem, identity: recorded };
  }
  await store.upsertServer(server, identityUpdate(current, opts.now()));
  return { ok: true, identity: current, first: recorded === null, pageLimits: pageLimitsFromAccount(account) };
}

/** What `adoptServerChange` did. */
export type AdoptResult =
  /** The token belonged to another server: its identity is recorded and the old server's records are gone. */
  | { kind: 'adopted'; from: ServerIdentity; to: ServerIdentity }
  /** The token still belongs to the recorded server (or none was recorded): nothing to accept, nothing cleared. */
  | { kind: 'unchanged'; identity: ServerIdentity }
  /** Apple reported another UUID than the operator named: nothing was changed. */
  | { kind: 'mismatch'; expected: string; identity: ServerIdentity }
  /** Apple did not answer: nothing was changed. */
  | { kind: 'failed'; problem: ServerProblem };

/**
 * Accepts that a server's token now belongs to another MDM server: an operator's action (`--adopt-server`),
 * never the repository's. Asks Apple (`GET /account`); when the UUID differs from the recorded one, records
 * the new identity and, in the same store transaction, forgets the old server's devices, profile records and
 * cursor, so the next observation is a first contact with the new server instead of a diff against devices
 * that are not its own. With `expectUuid` (`--adopt-server NAME=UUID`) only that server is accepted, so a
 * flag left on a controller's command line cannot accept a later, different change. The same UUID, or no
 * recorded identity, changes nothing.
 */
export async function adoptServerChange(
  server: string,
  client: ReconcileDepClient,
  store: IdentityStore,
  opts: IdentityOptions & { expectUuid?: string },
): Promise<AdoptResult> {
  const recorded = identityOfRecord(await store.getServer(server));
  let current: ServerIdentity;
  try {
    current = identityFromAccount(await client.account(opts.signal ? { signal: opts.signal } : {}));
  } catch (err) {
    return { kind: 'failed', problem: problemFromError(server, err, opts.now()) };
  }
  if (opts.expectUuid !== undefined && opts.expectUuid.toUpperCase() !== current.serverUuid.toUpperCase()) {
    return { kind: 'mismatch', expected: opts.expectUuid, identity: current };
  }
  if (!recorded || recorded.serverUuid === current.serverUuid) return { kind: 'unchanged', identity: current };
  await store.adoptServer(server, identityUpdate(current, opts.now()));
  return { kind: 'adopted', from: recorded, to: current };
}

/** Parses `NAME` or `NAME=UUID` of `--adopt-server`. */
export function parseAdoptSpec(text: string): AdoptSpec {
  const eq = text.indexOf('=');
  if (eq < 0) return { server: text.trim() };
  return { server: text.slice(0, eq).trim(), expectUuid: text.slice(eq + 1).trim() };
}

/** One line saying what an adoption did, for the CLI and the controller's log. */
export function describeAdoption(server: string, r: AdoptResult): string {
  switch (r.kind) {
    case 'adopted':
      return `${server}: adopted ${describeIdentity(r.to)} in place of "${r.from.serverName}" (uuid ${r.from.serverUuid}); the devices stored for the old server were forgotten, this pass is a first contact`;
    case 'unchanged':
      return `${server}: the token still belongs to ${describeIdentity(r.identity)}; nothing to adopt`;
    case 'mismatch':
      return `${server}: not adopted: Apple reports ${describeIdentity(r.identity)}, not uuid ${r.expected}`;
    case 'failed':
      return `${server}: not adopted: ${r.problem.message}`;
  }
}

/** One `--adopt-server` request. */
export interface AdoptSpec {
  server: string;
  /** Accept only this `server_uuid` (`--adopt-server NAME=UUID`). */
  expectUuid?: string;
}

/**
 * Carries out the operator's `--adopt-server` requests before a pass, one server after the other. A server
 * without a DEP client (token missing, expired) is reported `failed` with the reason it has none.
 */
export async function adoptServers(
  specs: readonly AdoptSpec[],
  handles: readonly { name: string; client: ReconcileDepClient | null; problem: ServerProblem | null }[],
  store: IdentityStore,
  opts: IdentityOptions,
): Promise<{ server: string; result: AdoptResult }[]> {
  const out: { server: string; result: AdoptResult }[] = [];
  for (const spec of specs) {
    const h = handles.find((x) => x.name === spec.server);
    if (!h?.client) {
      const problem: ServerProblem = h?.problem ?? { server: spec.server, kind: 'terminal', reason: 'token-unavailable', message: `no MdmServer named "${spec.server}" can be reached`, retryAt: null };
      out.push({ server: spec.server, result: { kind: 'failed', problem } });
      continue;
    }
    const expect = spec.expectUuid !== undefined ? { expectUuid: spec.expectUuid } : {};
    out.push({ server: spec.server, result: await adoptServerChange(spec.server, h.client, store, { ...opts, ...expect }) });
  }
  return out;
}
