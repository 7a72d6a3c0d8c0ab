/**
 * How a simulator group tells its servers apart on one listener, as Apple does: GET /session is
 * answered by the server whose OAuth consumer key and access token the request carries, and every
 * later call by the server that issued its `X-ADM-Auth-Session` token (dep-protocol.md §2: the
 * session belongs to the server token that opened it).
 */
import type { IncomingMessage } from 'node:http';
import type { SimContext } from './context.js';
import { parseOAuthHeader } from './oauth.js';

/** Sessions remembered per group before revoked and expired ones are forgotten. */
const DIRECTORY_LIMIT = 100_000;

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Which server a request is for: by OAuth credentials on /session, by session token after. */
export class SessionDirectory<M extends { ctx: SimContext }> {
  private readonly owners = new Map<string, M>();

  /**
   * @param members the servers (filled in by the caller, never empty once requests arrive); the
   *   first one answers requests that name no known server.
   */
  constructor(private readonly members: readonly M[]) {}

  /**
   * Records that `member` issued `token`. Revoked tokens stay recorded, so that a session killed by
   * the `expireSessions` fault still reaches its own server and gets that server's 401 or 403.
   */
  issued(token: string, member: M): void {
    if (this.owners.size >= DIRECTORY_LIMIT) {
      for (const [t, m] of this.owners) if (m.ctx.sessions.check(t) !== 'ok') this.owners.delete(t);
    }
    this.owners.set(token, member);
  }

  /**
   * The server a request goes to. A request naming no server (bad credentials, an unknown session,
   * none at all) goes to the first server, which answers it exactly as a lone simulator would.
   */
  pick(req: IncomingMessage, url: URL): M {
    const fallback = this.members[0] as M;
    if (url.pathname === '/session') {
      const parsed = parseOAuthHeader(headerValue(req.headers.authorization));
      if (!parsed.ok) return fallback;
      const key = parsed.params.get('oauth_consumer_key');
      const token = parsed.params.get('oauth_token');
      return this.members.find((m) => m.ctx.token.consumer_key === key && m.ctx.token.access_token === token) ?? fallback;
    }
    const session = headerValue(req.headers['x-adm-auth-session']);
    return (session !== undefined ? this.owners.get(session) : undefined) ?? fallback;
  }
}
