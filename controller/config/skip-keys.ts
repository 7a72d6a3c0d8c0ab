import { enumFromSchema, type SchemaFiles } from './schemas.js';
import type { ProblemSink, SourceLoc } from './problems.js';
import { didYouMean } from './suggest.js';

/** The platforms Apple's SkipKeys catalogue (`other/skipkeys.yaml`) gives versions for. */
export type SkipKeyPlatform = 'iOS' | 'macOS' | 'tvOS' | 'visionOS';

/** When a SkipKey came and went on one platform, as Apple's catalogue states it. */
export interface PlatformSpan {
  introduced: string;
  deprecated?: string;
  removed?: string;
}

/** The life of a deprecated or removed SkipKey. `seedOnly` marks a key no released OS ever listed. */
export interface SkipKeyAvailability {
  platforms: Partial<Record<SkipKeyPlatform, PlatformSpan>>;
  seedOnly?: string;
}

/**
 * Versions of the keys Apple deprecated or removed. Each entry names where its numbers come from:
 * - skipkeys.yaml@b6202ca: apple/device-management `other/skipkeys.yaml`, branch `release`
 *   (Release_iOS-18-1_macOS-15-1), for `introduced` and `deprecated`;
 * - skipkeys.yaml@3b90e3f: the same file on branch `seed_iOS-18.2_macOS-15.2`;
 * - skipkeys.yaml@b838baa: the same file in the iOS 17 seed of 2023-06-06 (gone again in 72c2a0a,
 *   Release_iOS-17-0_macOS-14-0);
 * - dep-protocol.md "SkipKeys": Apple's SkipKeys page (2026) for the `removed` versions, which the stored
 *   copies of skipkeys.yaml predate;
 * - petarov/apple-mdm-clients `ProfileSkipItem.java` (commits 227681e and 3681100), which follows Apple's
 *   SkipKeys page, for keys newer than the stored skipkeys.yaml.
 */
export const SKIP_KEY_AVAILABILITY: Readonly<Record<string, SkipKeyAvailability>> = {
  // skipkeys.yaml@b6202ca.
  DisplayTone: { platforms: { iOS: { introduced: '9.3.2', deprecated: '15.0' }, macOS: { introduced: '10.13.6', deprecated: '12.0' } } },
  HomeButtonSensitivity: { platforms: { iOS: { introduced: '10.0', deprecated: '15.0' } } },
  OnBoarding: { platforms: { iOS: { introduced: '11.0', deprecated: '14.0' } } },
  Zoom: { platforms: { iOS: { introduced: '8.3', deprecated: '17.0' } } },
  // Introduced: ProfileSkipItem.java (iOS 26, macOS 26.1 after commit 227681e); removed in 27: dep-protocol.md.
  OSShowcase: { platforms: { iOS: { introduced: '26.0', removed: '27.0' }, macOS: { introduced: '26.1', removed: '27.0' } } },
  // Introduced: skipkeys.yaml@b6202ca; removed in macOS 26: dep-protocol.md (petarov dropped it in 3681100).
  Wallpaper: { platforms: { macOS: { introduced: '14.1', removed: '26.0' } } },
  // Introduced: skipkeys.yaml@3b90e3f; removed in iOS 26.1: dep-protocol.md.
  WebContentFiltering: { platforms: { iOS: { introduced: '18.2', removed: '26.1' } } },
  // skipkeys.yaml@b838baa listed it for iOS 17.0; no release did.
  IntendedUser: { platforms: {}, seedOnly: 'the iOS 17 beta catalogue (June 2023)' },
};

/** Apple's SkipKeys as the enrollment-profile schema lists them (the schema is the single source of the names). */
export interface SkipKeyCatalogue {
  current: readonly string[];
  deprecated: readonly string[];
  removed: readonly string[];
}

/** Reads the three SkipKeys lists from the enrollment-profile schema. */
export function skipKeyCatalogue(files: SchemaFiles): SkipKeyCatalogue {
  const file = 'enrollment-profile.schema.json';
  return {
    current: enumFromSchema(files, file, 'CurrentSkipKey'),
    deprecated: enumFromSchema(files, file, 'DeprecatedSkipKey'),
    removed: enumFromSchema(files, file, 'RemovedSkipKey'),
  };
}

/** `macOS 14.1 up to (not including) 26.0`-style text: where a removed key still acts, per platform. */
function spans(a: SkipKeyAvailability | undefined): string {
  return Object.entries(a?.platforms ?? {})
    .map(([os, s]) => (s.removed === undefined ? `${os} ${s.introduced} and later` : `${os} ${s.introduced} up to (not including) ${s.removed}`))
    .join(', ');
}

function removedIn(a: SkipKeyAvailability | undefined): string {
  return Object.entries(a?.platforms ?? {})
    .filter(([, s]) => s.removed !== undefined)
    .map(([os, s]) => `${os} ${s.removed ?? ''}`)
    .join(' and ');
}

function deprecatedIn(a: SkipKeyAvailability | undefined): string {
  return Object.entries(a?.platforms ?? {})
    .filter(([, s]) => s.deprecated !== undefined)
    .map(([os, s]) => `${os} ${s.deprecated ?? ''}`)
    .join(' and ');
}

/**
 * Checks `skip_setup_items` (Apple's SkipKeys page; dep-protocol.md "SkipKeys"). Every finding is a
 * warning: Apple documents no define-time error for any SkipKey, keys it retired still act on devices that
 * run older versions, and it adds keys with each release faster than this catalogue can follow.
 */
export function checkSkipKeys(items: readonly string[], at: (index: number) => SourceLoc, catalogue: SkipKeyCatalogue, sink: ProblemSink): void {
  const known = [...catalogue.current, ...catalogue.deprecated, ...catalogue.removed];
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const first = seen.get(item);
    if (first !== undefined) {
      sink.warning('repeated-skip-key', at(i), `skip key "${item}" is listed twice (items ${first} and ${i}); once is enough`);
      return;
    }
    seen.set(item, i);
    const a = SKIP_KEY_AVAILABILITY[item];
    if (catalogue.deprecated.includes(item)) {
      const when = deprecatedIn(a);
      sink.warning('deprecated-skip-key', at(i), `skip key "${item}" is deprecated by Apple${when ? ` since ${when}` : ''}; it still works but may be removed in a future release`);
    } else if (catalogue.removed.includes(item)) {
      sink.warning('removed-skip-key', at(i), removedMessage(item, a));
    } else if (!catalogue.current.includes(item)) {
      sink.warning(
        'unknown-skip-key',
        at(i),
        `unknown skip key "${item}"${didYouMean(item, known)}: not in depctl's copy of Apple's SkipKeys; it is sent to Apple as written (check the spelling if it is not a key Apple added recently)`,
      );
    }
  });
}

function removedMessage(item: string, a: SkipKeyAvailability | undefined): string {
  if (a?.seedOnly !== undefined) {
    return `skip key "${item}" appeared only in ${a.seedOnly} and in no release; no released OS is documented to act on it`;
  }
  const where = spans(a);
  const gone = removedIn(a);
  return `skip key "${item}" was removed by Apple${gone ? ` in ${gone}` : ''}; it still acts on devices running ${where || 'older versions'}, and is ignored by newer ones`;
}
