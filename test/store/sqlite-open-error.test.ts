// A SQLite state file that cannot be created gets an error naming the path, the uid and the fix (SQLite's
// own message is only "unable to open database file"), e.g. a container started with an arbitrary uid on
// a volume it cannot write.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../controller/store/open-store.js';

const root = resolve(import.meta.dirname, '../..');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'depctl-open-error-'));
});
afterEach(() => {
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

async function openError(url: string): Promise<{ code: unknown; message: string }> {
  try {
    const store = await openStore(url);
    await store.close();
  } catch (err) {
    return { code: (err as { code?: unknown }).code, message: (err as Error).message };
  }
  throw new Error(`${url} opened`);
}

describe('SQLite state that cannot be written', () => {
  it('names the path, the part that is not a directory, the uid and the fix', async () => {
    writeFileSync(join(dir, 'file'), 'not a directory');
    const path = join(dir, 'file', 'state', 'state.db');
    const e = await openError(`sqlite:${path}`);
    expect(e.code).toBe('store-config');
    expect(e.message).toContain(`cannot open the SQLite state ${path}`);
    expect(e.message).toContain(`${join(dir, 'file')} is not a directory`);
    expect(e.message).toContain('--state sqlite:PATH (env DEPCTL_STATE)');
    expect(e.message).toContain('chmod g+rwX');
  });

  it('names the directory that is not writable and the uid of the process', () => {
    // Root bypasses file permissions: then the open runs in a child process as uid/gid 65534 (nobody);
    // otherwise this process opens a directory it made read-only.
    const state = join(dir, 'ro');
    const path = join(state, 'state.db');
    const script = `
      const { openStore } = await import(${JSON.stringify(join(root, 'controller/store/open-store.ts'))});
      try { await openStore(${JSON.stringify(`sqlite:${path}`)}); console.log(JSON.stringify({ opened: true })); }
      catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })); }`;
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // The temporary directory must be reachable by nobody; the state directory is root's own.
      chmodSync(dir, 0o755);
      spawnSync('mkdir', ['-m', '0755', state]);
    } else {
      spawnSync('mkdir', ['-m', '0555', state]);
    }
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    expect(child.stderr).toBe('');
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as { code?: string; message?: string; opened?: boolean };
    const uid = asRoot ? 65534 : process.getuid?.();
    expect(result.opened).toBeUndefined();
    expect(result.code).toBe('store-config');
    expect(result.message).toContain(`cannot open the SQLite state ${path}`);
    expect(result.message).toContain(`${state} is not writable by uid ${uid}`);
    expect(result.message).toContain('Kubernetes fsGroup');
  });
});
