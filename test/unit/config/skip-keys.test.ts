import { describe, expect, it } from 'vitest';
import { ProblemSink } from '../../../controller/config/problems.js';
import { readSchemaFiles } from '../../../controller/config/schemas.js';
import { checkSkipKeys, SKIP_KEY_AVAILABILITY, skipKeyCatalogue } from '../../../controller/config/skip-keys.js';

const catalogue = skipKeyCatalogue(readSchemaFiles());
const check = (items: string[]): { severity: string; code: string; line: number; message: string }[] => {
  const sink = new ProblemSink();
  checkSkipKeys(items, (i) => ({ file: 'p.yaml', line: i + 1, column: 1 }), catalogue, sink);
  return sink.problems.map(({ severity, code, line, message }) => ({ severity, code, line, message }));
};

describe('SkipKeys', () => {
  it('has versions for exactly the deprecated and removed keys of the schema', () => {
    expect(Object.keys(SKIP_KEY_AVAILABILITY).sort()).toEqual([...catalogue.deprecated, ...catalogue.removed].sort());
    for (const key of catalogue.deprecated) {
      const spans = Object.values(SKIP_KEY_AVAILABILITY[key]?.platforms ?? {});
      expect(spans.length, key).toBeGreaterThan(0);
      for (const s of spans) expect(s.deprecated, key).toMatch(/^\d+\.\d+/);
    }
  });

  it('accepts current keys silently, AdditionalPrivacySettings included', () => {
    expect(check(['Siri', 'AdditionalPrivacySettings', 'LiquidGlass', 'TOS'])).toEqual([]);
  });

  it('warns, never refuses, with the versions where a retired key still acts', () => {
    expect(check(['Wallpaper', 'WebContentFiltering', 'OSShowcase', 'IntendedUser', 'Zoom', 'Locaton', 'Zoom'])).toEqual([
      {
        severity: 'warning',
        code: 'removed-skip-key',
        line: 1,
        message: 'skip key "Wallpaper" was removed by Apple in macOS 26.0; it still acts on devices running macOS 14.1 up to (not including) 26.0, and is ignored by newer ones',
      },
      {
        severity: 'warning',
        code: 'removed-skip-key',
        line: 2,
        message: 'skip key "WebContentFiltering" was removed by Apple in iOS 26.1; it still acts on devices running iOS 18.2 up to (not including) 26.1, and is ignored by newer ones',
      },
      {
        severity: 'warning',
        code: 'removed-skip-key',
        line: 3,
        message:
          'skip key "OSShowcase" was removed by Apple in iOS 27.0 and macOS 27.0; it still acts on devices running iOS 26.0 up to (not including) 27.0, macOS 26.1 up to (not including) 27.0, and is ignored by newer ones',
      },
      {
        severity: 'warning',
        code: 'removed-skip-key',
        line: 4,
        message: 'skip key "IntendedUser" appeared only in the iOS 17 beta catalogue (June 2023) and in no release; no released OS is documented to act on it',
      },
      { severity: 'warning', code: 'deprecated-skip-key', line: 5, message: 'skip key "Zoom" is deprecated by Apple since iOS 17.0; it still works but may be removed in a future release' },
      {
        severity: 'warning',
        code: 'unknown-skip-key',
        line: 6,
        message: 'unknown skip key "Locaton" (did you mean "Location"?): not in depctl\'s copy of Apple\'s SkipKeys; it is sent to Apple as written (check the spelling if it is not a key Apple added recently)',
      },
      { severity: 'warning', code: 'repeated-skip-key', line: 7, message: 'skip key "Zoom" is listed twice (items 4 and 6); once is enough' },
    ]);
  });
});
