import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

describe('the depctl executable (bin/depctl.js on the build)', () => {
  it('is built (npm test builds before testing)', () => {
    expect(existsSync(`${root}dist/main.js`), 'run `npm run build` first').toBe(true);
  });

  it('validates examples/ and exits 0', async () => {
    const { stdout } = await run(process.execPath, ['bin/depctl.js', 'validate', 'examples'], { cwd: root });
    expect(stdout).toMatch(/^examples: valid \(/);
  });

  it('exits 1 on an invalid directory and 2 on a usage error', async () => {
    const invalid = await run(process.execPath, ['bin/depctl.js', 'validate', 'test/fixtures/bad-configs'], { cwd: root }).catch((e: { code: number; stdout: string }) => e);
    expect((invalid as { code: number }).code).toBe(1);
    const usage = await run(process.execPath, ['bin/depctl.js', 'validate', '--format', 'yaml'], { cwd: root }).catch((e: { code: number }) => e);
    expect((usage as { code: number }).code).toBe(2);
  });
});
