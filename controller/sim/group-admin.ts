/**
 * Admin endpoints of a simulator group. Every single-server path of admin.ts is served per server
 * under `/_sim/servers/NAME/` (e.g. `POST /_sim/servers/lyon/faults`), and the plain `/_sim/…`
 * paths act on the first server, so scripts written for a lone simulator keep working.
 *
 * | method | path | does |
 * |---|---|---|
 * | GET | /_sim/servers | the servers: name, account identity, counts, admin path |
 * | GET | /_sim/servers/NAME | that server's state (same as `/_sim/servers/NAME/state`) |
 * | POST | /_sim/servers/NAME/swap-token | `{with: OTHER}`: NAME's and OTHER's tokens swap servers (a token downloaded for the wrong server) |
 * | any | /_sim/servers/NAME/… | admin.ts's table, on that server (`clock` moves the shared clock) |
 * | any | /_sim/… | admin.ts's table, on the first server |
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { adminParts, adminReply, NOT_JSON, notFound, readAdminBody, sendAdminJson } from './admin.js';
import type { GroupMember } from './group.js';
import { isObject } from './http-util.js';

function summary(m: GroupMember): Record<string, unknown> {
  const { account } = m.ctx;
  return {
    name: m.server.name,
    server_name: account.server_name,
    server_uuid: account.server_uuid,
    devices: m.server.inspect.deviceCount(),
    profiles: m.server.inspect.profileCount(),
    sessions: m.server.inspect.sessionCount(),
    admin: `/_sim/servers/${encodeURIComponent(m.server.name)}`,
  };
}

/** Handles a request under `/_sim/` for a group whose first member is the default server; `swap` swaps two tokens. */
export async function handleGroupAdmin(
  members: readonly GroupMember[],
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  swap: (a: string, b: string) => void,
): Promise<void> {
  const body = await readAdminBody(req);
  if (body === undefined) return sendAdminJson(res, NOT_JSON);
  const method = req.method ?? 'GET';
  const parts = adminParts(url);
  if (parts[0] !== 'servers') {
    const first = members[0] as GroupMember;
    return sendAdminJson(res, adminReply(first.ctx, first.admin, method, parts, body));
  }
  if (parts.length === 1) {
    if (method !== 'GET') return sendAdminJson(res, notFound(`no admin endpoint ${method} /_sim/servers`));
    return sendAdminJson(res, { status: 200, body: { servers: members.map(summary) } });
  }
  const member = members.find((m) => m.server.name === parts[1]);
  if (member === undefined) return sendAdminJson(res, notFound(`no server named ${parts[1]}`));
  const rest = parts.length === 2 ? ['state'] : parts.slice(2);
  if (rest.length === 1 && rest[0] === 'swap-token') {
    if (method !== 'POST') return sendAdminJson(res, notFound(`no admin endpoint ${method} /_sim/servers/${member.server.name}/swap-token`));
    const other = isObject(body) && typeof body.with === 'string' ? members.find((m) => m.server.name === body.with) : undefined;
    if (other === undefined || other === member) return sendAdminJson(res, { status: 400, body: { error: 'expected {with: NAME} naming another server of the group' } });
    swap(member.server.name, other.server.name);
    return sendAdminJson(res, { status: 200, body: { servers: [summary(member), summary(other)] } });
  }
  sendAdminJson(res, adminReply(member.ctx, member.admin, method, rest, body));
}
