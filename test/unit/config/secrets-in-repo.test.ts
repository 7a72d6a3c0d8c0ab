import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';
import { gitPathStatus } from '../../../controller/config/git-paths.js';
import { makeConfigDir } from '../../helpers/config-dir.js';
import { PARIS_IPADS_YAML } from '../../helpers/config-yaml.js';
import { git } from '../../helpers/git.js';

const config = PARIS_IPADS_YAML;
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n';
const TOKEN = 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data\n\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\n';

/** The config with the default secrets directory inside it, as `depctl validate .` sees it from there. */
const withSecrets = { 'depctl.yaml': config, 'secrets/paris/token.p7m': TOKEN, 'secrets/paris/key.pem': KEY };

async function check(files: Record<string, string>, setup: (dir: string) => Promise<void> | void, opts: { secretsDir?: string; configDir?: string } = {}) {
  const { dir, cleanup } = await makeConfigDir(files);
  try {
    await setup(dir);
    const root = join(dir, opts.configDir ?? '.');
    const r = await loadConfig(root, opts.secretsDir === undefined ? {} : { secretsDir: join(dir, opts.secretsDir) });
    return r.problems.map((p) => `${p.file}:${p.line} ${p.code}: ${p.message}`);
  } finally {
    await cleanup();
  }
}

/** A git repository in `dir` that ignores only what its .gitignore says (not the user's global excludes). */
function initRepo(dir: string): void {
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'core.excludesFile', '/dev/null');
}

describe('secrets next to the config (issue 9)', () => {
  it('accepts the secrets of the configured secrets directory inside the config directory, outside git', async () => {
    expect(await check(withSecrets, () => {}, { secretsDir: 'secrets' })).toEqual([]);
  });

  it('still reports them when no secrets directory is named and no git repository says otherwise', async () => {
    const list = await check(withSecrets, () => {});
    expect(list).toEqual([
      expect.stringMatching(/^secrets\/paris\/key\.pem:1 secret-in-repo: file contains a private key; /),
      expect.stringMatching(/^secrets\/paris\/token\.p7m:1 secret-in-repo: this looks like a server token/),
    ]);
  });

  it('does not read YAML in the secrets directory as config', async () => {
    const list = await check({ ...withSecrets, 'secrets/paris/notes.yaml': 'not: [a depctl document' }, () => {}, { secretsDir: 'secrets' });
    expect(list).toEqual([]);
  });

  it('a secrets directory that is the config directory itself excuses nothing', async () => {
    const list = await check({ 'depctl.yaml': config, 'key.pem': KEY }, () => {}, { secretsDir: '.' });
    expect(list).toEqual([expect.stringMatching(/^key\.pem:1 secret-in-repo: /)]);
  });

  it('in a git repository: ignored files are fine, untracked unignored and tracked ones are reported', async () => {
    const files = { 'depctl.yaml': config, '.gitignore': '/private/\n*.p7m\n', 'private/key.pem': KEY, 'paris.p7m': TOKEN, 'stray-key.pem': KEY, 'committed.p7m': TOKEN };
    const list = await check(files, (dir) => {
      initRepo(dir);
      git(dir, 'add', 'depctl.yaml', '.gitignore');
      // Committed before .gitignore covered it: still in the repository.
      git(dir, 'add', '-f', 'committed.p7m');
      git(dir, 'commit', '-q', '-m', 'config');
    });
    expect(list).toEqual([
      expect.stringMatching(/^committed\.p7m:1 secret-in-repo: this looks like a server token or key bundle, and git tracks it: remove it from the repository \(git rm --cached/),
      expect.stringMatching(/^stray-key\.pem:1 secret-in-repo: file contains a private key; secrets never belong/),
    ]);
  });

  it('a tracked file in the secrets directory is still a secret in the repository', async () => {
    const list = await check(withSecrets, (dir) => {
      initRepo(dir);
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '-m', 'oops');
    }, { secretsDir: 'secrets' });
    expect(list).toEqual([
      expect.stringMatching(/^secrets\/paris\/key\.pem:1 secret-in-repo: .*git tracks it/),
      expect.stringMatching(/^secrets\/paris\/token\.p7m:1 secret-in-repo: .*git tracks it/),
    ]);
  });

  it('the default layout: ./secrets inside the config repository and ignored by git validates clean', async () => {
    const list = await check({ ...withSecrets, '.gitignore': 'secrets/\n' }, (dir) => {
      initRepo(dir);
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '-m', 'config');
    }, { secretsDir: 'secrets' });
    expect(list).toEqual([]);
  });

  it('a config directory below the repository root follows the root .gitignore', async () => {
    const files = { '.gitignore': '*.pem\n', 'dep/depctl.yaml': config, 'dep/keys/paris.pem': KEY, 'dep/paris.p7m': TOKEN };
    const list = await check(files, (dir) => initRepo(dir), { configDir: 'dep' });
    expect(list).toEqual([expect.stringMatching(/^paris\.p7m:1 secret-in-repo: /)]);
  });

  it('a .gitignore outside a git repository means nothing', async () => {
    const list = await check({ 'depctl.yaml': config, '.gitignore': '*.pem\n', 'key.pem': KEY }, () => {});
    expect(list).toEqual([expect.stringMatching(/^key\.pem:1 secret-in-repo: /)]);
  });

  it('an absolute token path into the secrets directory inside the config directory is no secret-ref error', async () => {
    const { dir, cleanup } = await makeConfigDir({ 'secrets/paris/key.pem': KEY });
    try {
      const abs = join(dir, 'secrets', 'paris');
      await writeFile(join(dir, 'depctl.yaml'), config.replace('{ file: paris/token.p7m }', `{ file: "${abs}/token.p7m" }`));
      await mkdir(abs, { recursive: true });
      await writeFile(join(abs, 'token.p7m'), TOKEN);
      const inside = await loadConfig(dir, { secretsDir: join(dir, 'secrets') });
      expect(inside.problems).toEqual([]);
      const without = await loadConfig(dir);
      expect(without.problems.map((p) => p.code)).toEqual(expect.arrayContaining(['secret-ref']));
    } finally {
      await cleanup();
    }
  });
});

describe('gitPathStatus', () => {
  it('is undefined outside a git repository, and names tracked and ignored paths inside one (odd names too)', async () => {
    const { dir, cleanup } = await makeConfigDir({ 'a.txt': 'a', 'b*.txt': 'b', 'c d.txt': 'c', '.gitignore': 'c d.txt\n' });
    try {
      expect(await gitPathStatus(dir, ['a.txt'])).toBeUndefined();
      initRepo(dir);
      git(dir, 'add', 'a.txt', '.gitignore');
      const s = await gitPathStatus(dir, ['a.txt', 'b*.txt', 'c d.txt']);
      expect([...(s?.tracked ?? [])]).toEqual(['a.txt']);
      expect([...(s?.ignored ?? [])]).toEqual(['c d.txt']);
      expect(await gitPathStatus(dir, [])).toEqual({ tracked: new Set(), ignored: new Set() });
    } finally {
      await cleanup();
    }
  });
});
