/**
 * Durations on the command line: `90s`, `1m30s`, `1h`, `500ms`. A bare number is refused (is `60` seconds or
 * milliseconds?) with a hint, and each option has a floor below which it would hammer git, Apple or the store.
 *
 * Hand-written on purpose (issue 13 asked whether a library does it better): `ms` reads no compound
 * `1m30s`, and `parse-duration` is lenient where a controller flag must not be: it reads `60` as 60 ms and
 * `5m garbage` as 5 minutes. The strict grammar here is one regular expression.
 */
import { InvalidArgumentError, Option } from 'commander';

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Parses `90s`, `1m30s`, `1h`, `1.5m`, `250ms` into milliseconds; throws InvalidArgumentError otherwise. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    // A large bare number was most likely meant as milliseconds (the old form); a small one as seconds.
    const n = Number(t);
    const hint = n >= 1000 && Number.isInteger(n) ? formatDuration(n) : `${t}s`;
    throw new InvalidArgumentError(`"${text}" has no unit: did you mean ${hint}? (durations look like 90s, 1m30s or 1h)`);
  }
  if (!/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(t)) {
    throw new InvalidArgumentError(`expected a duration such as 30s, 1m30s or 2h, got "${text}"`);
  }
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) ms += Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
  return Math.round(ms);
}

/** Formats milliseconds the way `parseDuration` reads them: `1m`, `1m30s`, `2h`, `300ms`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms % 1000 !== 0) return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** A parser for a duration of at least `minMs` (the error names the floor). */
export function durationAtLeast(minMs: number): (text: string) => number {
  return (text) => {
    const ms = parseDuration(text);
    if (ms < minMs) throw new InvalidArgumentError(`must be at least ${formatDuration(minMs)}, got ${formatDuration(ms)}`);
    return ms;
  };
}

/** A commander option taking a duration with a floor; `--help` shows the default as a duration (`1m`, not `60000`). */
export function durationOption(flags: string, description: string, defaultMs: number, minMs: number): Option {
  return new Option(flags, `${description} (at least ${formatDuration(minMs)})`).argParser(durationAtLeast(minMs)).default(defaultMs, formatDuration(defaultMs));
}
