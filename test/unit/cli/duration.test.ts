import { describe, expect, it } from 'vitest';
import { durationAtLeast, formatDuration, parseDuration } from '../../../controller/cli/duration.js';
import { runDepctl } from '../../helpers/cli.js';

describe('durations on the command line', () => {
  it('reads 90s, 1m30s, 1h, 1.5m and 250ms', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
  });

  it('refuses a bare number with a hint, and anything else with the expected form', () => {
    expect(() => parseDuration('90')).toThrow(/did you mean 90s\?/);
    expect(() => parseDuration('60000')).toThrow(/did you mean 1m\?/);
    expect(() => parseDuration('soon')).toThrow(/such as 30s, 1m30s or 2h/);
    expect(() => parseDuration('1m 30s')).toThrow(/such as/);
  });

  it('formats as it reads', () => {
    expect(formatDuration(60_000)).toBe('1m');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(15 * 60_000)).toBe('15m');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(300)).toBe('300ms');
  });

  it('names the floor', () => {
    expect(() => durationAtLeast(5000)('2s')).toThrow('must be at least 5s, got 2s');
    expect(durationAtLeast(5000)('5s')).toBe(5000);
  });

  it('depctl run: a usage error below the floors, and --help shows durations', async () => {
    for (const [flag, value, floor] of [['--poll-interval', '1s', '5s'], ['--sync-interval', '30s', '1m'], ['--leader-retry-interval', '500ms', '1s']] as const) {
      const r = await runDepctl(['run', '--repo', '.', flag, value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`must be at least ${floor}`);
    }
    const bare = await runDepctl(['run', '--repo', '.', '--poll-interval', '90']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('did you mean 90s?');
    const help = await runDepctl(['run', '--help']);
    expect(help.stdout).toContain('(default: 1m)');
    expect(help.stdout).toContain('(default: 15m)');
    expect(help.stdout).not.toContain('60000');
  });
});
