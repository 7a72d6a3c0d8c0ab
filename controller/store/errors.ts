/**
 * Errors the store throws on purpose. Consumers never import store/ (STYLE.md rule 1), so they tell
 * these apart by the `code` property rather than by class.
 */

/** Codes of deliberate store errors. */
export type StoreErrorCode = 'store-conflict' | 'store-not-found' | 'store-config' | 'store-schema';

/** A deliberate store error with a stable `code`. Messages never include connection passwords. */
export class StoreError extends Error {
  /** Stable machine-readable reason. */
  readonly code: StoreErrorCode;

  /** Builds an error with a stable code and a human message. */
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** True when `err` is a store error with the given code. */
export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
