/**
 * The pull-request comment of the depctl GitHub Action: one comment per config path, found again by a
 * hidden marker and updated in place (mode `update`), a new comment on each run (mode `new`), or none
 * (mode `off`). Talks to the GitHub REST API with fetch; the base URL comes from GITHUB_API_URL, so GitHub
 * Enterprise Server works, and tests point it at a fake server.
 */

/** GitHub refuses issue comments longer than 65,536 characters. */
export const MAX_COMMENT_CHARS = 65_000;

/** The hidden first line that identifies the comment of one config path. */
export function commentMarker(configPath) {
  return `<!-- depctl-plan ${JSON.stringify(configPath).replace(/--/g, '- -')} -->`;
}

/**
 * Cuts a comment body to what GitHub accepts, and scrubs what must never be posted: the given secret
 * values, and credentials in URLs (a database driver's error may quote a connection URL).
 * @param {string} body
 * @param {string[]} secrets
 */
export function finishBody(body, secrets = []) {
  let out = body.replace(/\/\/[^\s/@:]+:[^\s/@]+@/g, '//***@');
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  if (out.length > MAX_COMMENT_CHARS) out = `${out.slice(0, MAX_COMMENT_CHARS)}\n\n…(truncated: the full output is in the job log)`;
  return out;
}

/** An error answer of the GitHub API, with its status (403 for a fork's read-only token). */
export class GitHubApiError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.name = 'GitHubApiError';
    this.status = status;
  }
}

/**
 * A small GitHub REST client for issue comments.
 * @param {{ apiUrl: string, token: string, repository: string, fetch?: typeof globalThis.fetch }} opts
 */
export function githubComments(opts) {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const base = opts.apiUrl.replace(/\/+$/, '');
  const [owner, repo] = opts.repository.split('/');
  if (!owner || !repo) throw new Error(`GITHUB_REPOSITORY must be OWNER/REPO, got ${JSON.stringify(opts.repository)}`);
  const repoPath = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;

  async function call(method, path, body) {
    const res = await doFetch(`${base}${path}`, {
      method,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${opts.token}`,
        'x-github-api-version': '2022-11-28',
        'user-agent': 'depctl-action',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text.slice(0, 300);
      try {
        message = JSON.parse(text).message ?? message;
      } catch {
        // not JSON: keep the start of the text
      }
      throw new GitHubApiError(`GitHub ${method} ${path}: HTTP ${res.status} ${message}`, res.status);
    }
    return text === '' ? null : JSON.parse(text);
  }

  return {
    /** Every comment of the pull request, page by page (100 a page). */
    async list(issue) {
      const all = [];
      for (let page = 1; page <= 100; page++) {
        const batch = await call('GET', `${repoPath}/issues/${issue}/comments?per_page=100&page=${page}`);
        all.push(...batch);
        if (batch.length < 100) break;
      }
      return all;
    },
    create: (issue, body) => call('POST', `${repoPath}/issues/${issue}/comments`, { body }),
    update: (id, body) => call('PATCH', `${repoPath}/issues/comments/${id}`, { body }),
  };
}

/**
 * Posts the body as the mode says. Returns what was done and the comment's id and URL.
 * @param {ReturnType<typeof githubComments>} client
 * @param {{ issue: number, body: string, marker: string, mode: 'update' | 'new' | 'off' }} opts
 */
export async function postComment(client, opts) {
  if (opts.mode === 'off') return { action: 'none', id: null, url: null };
  const body = opts.body.startsWith(opts.marker) ? opts.body : `${opts.marker}\n${opts.body}`;
  if (opts.mode === 'update') {
    const existing = (await client.list(opts.issue)).find((c) => typeof c.body === 'string' && c.body.startsWith(opts.marker));
    if (existing) {
      const updated = await client.update(existing.id, body);
      return { action: 'updated', id: existing.id, url: updated?.html_url ?? null };
    }
  }
  const created = await client.create(opts.issue, body);
  return { action: 'created', id: created?.id ?? null, url: created?.html_url ?? null };
}
