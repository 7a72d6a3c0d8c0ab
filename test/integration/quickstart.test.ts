import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDepctl } from '../helpers/cli.js';
import { git } from '../helpers/git.js';

const SCHOOL = fileURLToPath(new URL('../../examples/school', import.meta.url));

describe('depctl quickstart keeps your work', () => {
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'depctl-qs-'));
    await cp(SCHOOL, join(cwd, 'cfg'), { recursive: true });
    // A hidden folder of the user's repository (a prefix of `.git`, which a naive filter would drop).
    await mkdir(join(cwd, 'cfg', '.github', 'workflows'), { recursive: true });
    await writeFile(join(cwd, 'cfg', '.github', 'workflows', 'plan.yml'), 'on: pull_request\n');
  });
  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  const quickstart = (...extra: string[]) => runDepctl(['quickstart', 'cfg', '--once', '--listen', '127.0.0.1:0', '--devices', '0', '--log-format', 'json', ...extra], { cwd, env: {} });
  const repo = (): string => join(cwd, '.depctl/quickstart/repo');

  it('copies hidden folders, keeps the repository and its commits on a restart, and starts over with --reset', async () => {
    const first = await quickstart();
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(join(repo(), '.github', 'workflows', 'plan.yml'))).toBe(true);
    expect(existsSync(join(repo(), 'servers.yaml'))).toBe(true);
    // The user's own commit in the quickstart's repository.
    git(repo(), 'commit', '-q', '--allow-empty', '-m', 'my change');
    expect(git(repo(), 'rev-list', '--count', 'HEAD')).toBe('2');

    const second = await quickstart();
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('and its 2 commit(s)');
    expect(git(repo(), 'log', '-1', '--format=%s')).toBe('my change');

    const reset = await quickstart('--reset');
    expect(reset.code, reset.stderr).toBe(0);
    expect(git(repo(), 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(existsSync(join(repo(), '.github', 'workflows', 'plan.yml'))).toBe(true);
  }, 120_000);
});
