import { describe, expect, it } from 'vitest';
import { runDepctl } from '../../helpers/cli.js';
import { VERSION } from '../../../controller/version.js';

describe('depctl program', () => {
  it('prints its version', async () => {
    const r = await runDepctl(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('exits 2 on an unknown command', async () => {
    const r = await runDepctl(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
  });
});
