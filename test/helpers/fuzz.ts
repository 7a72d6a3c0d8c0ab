/**
 * Property-based test settings. Each run picks a seed (or takes FUZZ_SEED) and prints it, so a failure found
 * in CI replays exactly: `FUZZ_SEED=1234 npx vitest run test/fuzz`. FUZZ_RUNS raises the number of cases
 * (the CI default keeps the suite fast).
 */
import type fc from 'fast-check';

/** fast-check parameters for one property, with the seed printed once per property. */
export function fuzzParams(name: string, defaultRuns = 200): fc.Parameters<unknown> {
  const fromEnv = process.env['FUZZ_SEED'];
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const numRuns = Number(process.env['FUZZ_RUNS'] ?? defaultRuns);
  // Printed before the run so the seed is on record even when the process dies mid-property.
  console.log(`fuzz ${name}: seed ${seed}, ${numRuns} runs (replay with FUZZ_SEED=${seed})`);
  return { seed, numRuns };
}
