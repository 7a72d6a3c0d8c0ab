import { describe, expect, it } from 'vitest';
import { runDepctl } from '../../helpers/cli.js';

describe('--help', () => {
  const commands = [['validate'], ['plan'], ['apply'], ['run'], ['quickstart'], ['import'], ['keys'], ['keys', 'generate'], ['token'], ['token', 'inspect'], ['sim']];
  it.each(commands)('of %s ends with two or three examples', async (...command) => {
    const r = await runDepctl([...command, '--help']);
    expect(r.code).toBe(0);
    const tail = r.stdout.split('\nExamples:\n')[1];
    expect(tail, r.stdout).toBeDefined();
    const lines = (tail ?? '').trimEnd().split('\n');
    const examples = lines.filter((l) => l.startsWith('  $ depctl ') || /^ {2}\$ [A-Z_]+=\S+ depctl /.test(l));
    expect(examples.length).toBeGreaterThanOrEqual(2);
    expect(examples.length).toBeLessThanOrEqual(3);
    // The first shows this very command (a later one may show what to do next, e.g. plan against the simulator).
    expect(examples[0]).toContain(`depctl ${command.join(' ')}`);
  });
});
