import { VERSION } from '../version.js';

/** The User-Agent sent when none is configured. */
export const DEFAULT_USER_AGENT = `depctl/${VERSION}`;

/**
 * Why `value` cannot be a User-Agent, or undefined when it can. Apple requires the header and refuses
 * some values (400 USER_AGENT_MISSING / USER_AGENT_INVALID) without saying which (dep-protocol.md
 * section 2; NanoDEP's default was refused, nanodep issue #42), so only what cannot be sent at all is
 * refused here: an empty or blank value, and characters outside printable ASCII.
 */
export function userAgentProblem(value: string): string | undefined {
  if (value.trim() === '') return 'must not be empty';
  if (/[^\x20-\x7e]/.test(value)) return 'must be printable ASCII (no control characters, tabs, line breaks or non-ASCII letters)';
  return undefined;
}
