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

  it('refuses a duration without a unit with a hint, and below its floor naming the floor (exit 2)', async () => {
    const bare = (await run(process.execPath, ['bin/depctl.js', 'run', '--repo', '.', '--poll-interval', '60000'], { cwd: root }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('"60000" has no unit: did you mean 1m?');
    const low = (await run(process.execPath, ['bin/depctl.js', 'run', '--repo', '.', '--sync-interval', '10s'], { cwd: root }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(low.code).toBe(2);
    expect(low.stderr).toContain('must be at least 1m, got 10s');
  });

  it('ends --help with examples', async () => {
    const { stdout } = await run(process.execPath, ['bin/depctl.js', '--help'], { cwd: root });
    expect(stdout).toMatch(/\nExamples:\n(.*\n)* {2}\$ depctl quickstart\n/);
  });
});
