import { readFile, rename, symlink, writeFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitSource, GitSourceError, type GitSourceOptions } from '../../controller/source/index.js';
import { createGitFixture, type GitFixture } from '../unit/source/git-fixture.js';

let fx: GitFixture;
beforeEach(async () => {
  fx = await createGitFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

function source(opts: Partial<GitSourceOptions> = {}) {
  return createGitSource({ url: fx.bare, workDir: fx.workDir(), env: fx.env, ...opts });
}

async function syncError(promise: Promise<unknown>): Promise<GitSourceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GitSourceError);
  return err as GitSourceError;
}

describe('git source: following a branch', () => {
  it('clones on the first sync and reports the commit', async () => {
    const rev = await fx.commit({ 'servers.yaml': 'a: 1\n' }, 'first config');
    const src = source();
    const res = await src.sync();
    expect(res).toMatchObject({ revision: rev, changed: true, message: 'first config', author: 'Test Author <author@example.test>' });
    expect(Date.parse(res.committedAt ?? '')).not.toBeNaN();
    expect(await readFile(join(res.dir, 'servers.yaml'), 'utf8')).toBe('a: 1\n');
    expect(src.describe()).toBe(`${fx.bare} (default branch, path .)`);
  });

  it('reports no change when the remote did not move, and the new revision when it did', async () => {
    const first = await fx.commit({ 'a.yaml': 'v: 1\n' });
    const src = source();
    await src.sync();
    expect(await src.sync()).toMatchObject({ revision: first, changed: false });
    const second = await fx.commit({ 'a.yaml': 'v: 2\n' });
    const res = await src.sync();
    expect(res).toMatchObject({ revision: second, changed: true });
    expect(await readFile(join(res.dir, 'a.yaml'), 'utf8')).toBe('v: 2\n');
  });

  it('follows a force-push that rewrites history', async () => {
    const base = await fx.commit({ 'a.yaml': 'v: 1\n' });
    await fx.commit({ 'b.yaml': 'old\n' }, 'to be rewritten');
    const src = source();
    await src.sync();
    await fx.git(['reset', '--hard', '--quiet', base]);
    const rewritten = await fx.commit({ 'c.yaml': 'new\n' }, 'rewritten');
    const res = await src.sync();
    expect(res).toMatchObject({ revision: rewritten, changed: true, message: 'rewritten' });
    expect((await readdir(res.dir)).sort()).toEqual(['.git', 'a.yaml', 'c.yaml']);
  });

  it('discards local edits and untracked files in the checkout', async () => {
    await fx.commit({ 'a.yaml': 'v: 1\n' });
    const src = source();
    const { dir } = await src.sync();
    await writeFile(join(dir, 'a.yaml'), 'tampered\n');
    await writeFile(join(dir, 'extra.yaml'), 'untracked\n');
    await src.sync();
    expect(await readFile(join(dir, 'a.yaml'), 'utf8')).toBe('v: 1\n');
    expect(await readdir(dir)).not.toContain('extra.yaml');
  });

  it('follows a named branch and the remote default branch, also through a file:// URL', async () => {
    await fx.commit({ 'a.yaml': 'main\n' });
    const staging = await fx.commit({ 'a.yaml': 'staging\n' }, 'staging change', { branch: 'staging' });
    const res = await source({ branch: 'staging' }).sync();
    expect(res.revision).toBe(staging);
    const other = await createGitFixture('trunk');
    try {
      const trunk = await other.commit({ 'a.yaml': 'trunk\n' });
      const viaUrl = createGitSource({ url: pathToFileURL(other.bare).href, workDir: other.workDir(), env: other.env });
      expect((await viaUrl.sync()).revision).toBe(trunk);
    } finally {
      await other.cleanup();
    }
  });

  it('follows the remote when its default branch changes, and keeps no reflog of old revisions', async () => {
    await fx.commit({ 'a.yaml': 'main\n' });
    const src = source();
    const { dir } = await src.sync();
    const trunk = await fx.commit({ 'a.yaml': 'trunk\n' }, 'on trunk', { branch: 'trunk' });
    await fx.git(['symbolic-ref', 'HEAD', 'refs/heads/trunk'], fx.bare);
    expect(await src.sync()).toMatchObject({ revision: trunk, changed: true });
    expect(await fx.git(['reflog', '--all'], dir)).toBe('');
  });

  it('reports an empty repository as ref-not-found until the first push', async () => {
    const src = source();
    expect((await syncError(src.sync())).kind).toBe('ref-not-found');
    expect((await syncError(src.sync())).kind).toBe('ref-not-found');
    const rev = await fx.commit({ 'a.yaml': 'v\n' });
    expect(await src.sync()).toMatchObject({ revision: rev, changed: true });
  });

  it('fails with ref-not-found for a missing branch', async () => {
    await fx.commit({ 'a.yaml': 'v: 1\n' });
    const err = await syncError(source({ branch: 'nope' }).sync());
    expect(err.kind).toBe('ref-not-found');
    expect(err.message).toContain('nope');
  });
});

describe('git source: sub-directory', () => {
  it('returns the sub-directory and refuses a revision without it', async () => {
    await fx.commit({ 'fleet/servers.yaml': 'a: 1\n', 'README.md': 'x\n' });
    const src = source({ path: 'fleet/' });
    const res = await src.sync();
    expect(res.dir).toBe(join(fx.root, 'checkout-1', 'fleet'));
    expect(await readdir(res.dir)).toEqual(['servers.yaml']);
    expect(src.describe()).toContain('path fleet)');
    const gone = await fx.commit({ fleet: null });
    const err = await syncError(src.sync());
    expect(err).toMatchObject({ kind: 'path-not-found', revision: gone, transient: false });
    expect(err.message).toContain('fleet');
  });

  it('refuses a sub-directory that is a symlink out of the checkout', async () => {
    await mkdir(join(fx.root, 'outside'));
    await fx.commit({ 'a.yaml': 'v\n' });
    await symlink(join(fx.root, 'outside'), join(fx.root, 'work', 'fleet'));
    await fx.commit({});
    const err = await syncError(source({ path: 'fleet' }).sync());
    expect(err.kind).toBe('path-not-found');
    expect(err.message).toContain('outside the repository');
  });
});

describe('git source: failures keep the last checkout', () => {
  it('throws a transient fetch-failed error when the repository disappears, and recovers when it is back', async () => {
    const rev = await fx.commit({ 'a.yaml': 'v: 1\n' });
    const src = source();
    const { dir } = await src.sync();
    await rename(fx.bare, `${fx.bare}.moved`);
    const err = await syncError(src.sync());
    expect(err).toMatchObject({ kind: 'fetch-failed', transient: true });
    expect(await readFile(join(dir, 'a.yaml'), 'utf8')).toBe('v: 1\n');
    expect(await fx.git(['rev-parse', 'HEAD'], dir)).toBe(rev);
    await rename(`${fx.bare}.moved`, fx.bare);
    expect(await src.sync()).toMatchObject({ revision: rev, changed: false });
  });

  it('refuses a work directory that is not empty and not a checkout', async () => {
    await fx.commit({ 'a.yaml': 'v\n' });
    const workDir = fx.workDir('busy');
    await mkdir(workDir);
    await writeFile(join(workDir, 'precious.txt'), 'keep me');
    const err = await syncError(source({ workDir }).sync());
    expect(err.kind).toBe('workdir');
    expect(await readFile(join(workDir, 'precious.txt'), 'utf8')).toBe('keep me');
  });

  it('reports a file-system problem with the work directory as a workdir error', async () => {
    await fx.commit({ 'a.yaml': 'v\n' });
    await writeFile(join(fx.root, 'a-file'), '');
    const err = await syncError(source({ workDir: join(fx.root, 'a-file', 'checkout') }).sync());
    expect(err.kind).toBe('workdir');
  });

  it('reuses an existing checkout from an earlier process', async () => {
    const rev = await fx.commit({ 'a.yaml': 'v\n' });
    const workDir = fx.workDir('shared');
    await source({ workDir }).sync();
    // A crash during a previous fetch leaves lock files behind.
    await writeFile(join(workDir, '.git', 'index.lock'), '');
    expect(await source({ workDir }).sync()).toMatchObject({ revision: rev, changed: true });
  });

  it('stops with aborted when the signal has fired', async () => {
    await fx.commit({ 'a.yaml': 'v\n' });
    const err = await syncError(source().sync(AbortSignal.abort()));
    expect(err.kind).toBe('aborted');
  });
});

describe('git source: pinned refs', () => {
  it('stays on a tag while the branch moves, and on a commit id', async () => {
    const tagged = await fx.commit({ 'a.yaml': 'v: 1\n' }, 'release');
    await fx.git(['tag', '-a', '-m', 'release 1', 'v1']);
    await fx.git(['push', '--quiet', 'origin', 'v1']);
    await fx.commit({ 'a.yaml': 'v: 2\n' });
    const byTag = source({ ref: 'v1' });
    expect(await byTag.sync()).toMatchObject({ revision: tagged, changed: true, message: 'release' });
    await fx.commit({ 'a.yaml': 'v: 3\n' });
    expect(await byTag.sync()).toMatchObject({ revision: tagged, changed: false });
    expect(byTag.describe()).toContain('tag v1');

    const byCommit = source({ ref: tagged });
    const res = await byCommit.sync();
    expect(res.revision).toBe(tagged);
    expect(await readFile(join(res.dir, 'a.yaml'), 'utf8')).toBe('v: 1\n');
    expect(await byCommit.sync()).toMatchObject({ revision: tagged, changed: false });
  });

  it('fails with ref-not-found for a missing tag', async () => {
    await fx.commit({ 'a.yaml': 'v\n' });
    expect((await syncError(source({ ref: 'v9' }).sync())).kind).toBe('ref-not-found');
  });
});

describe('git source: serialisation', () => {
  it('runs concurrent syncs one after the other', async () => {
    const rev = await fx.commit({ 'a.yaml': 'v\n' });
    const src = source();
    // Two clones into one directory at once would fail ("already exists and is not an empty directory").
    const results = await Promise.all([src.sync(), src.sync(), src.sync()]);
    expect(results.map((r) => [r.revision, r.changed])).toEqual([
      [rev, true],
      [rev, false],
      [rev, false],
    ]);
  });

  it('keeps serving calls after a failed one', async () => {
    const rev = await fx.commit({ 'a.yaml': 'v\n' });
    const src = source();
    const [first, second] = await Promise.allSettled([src.sync(AbortSignal.abort()), src.sync()]);
    expect(first.status).toBe('rejected');
    expect(second).toMatchObject({ status: 'fulfilled', value: { revision: rev, changed: true } });
  });
});
