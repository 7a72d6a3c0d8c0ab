/**
 * The store's public surface for the composition root: `openStore` and the port types. Consumers
 * (reconcile, dep) depend on the narrow port interfaces only.
 */
export { openStore, parseStateUrl, DEFAULT_STATE_URL, type OpenStoreOptions, type StateLocation } from './open-store.js';
export { StoreError, isStoreError, type StoreErrorCode } from './errors.js';
export { MemoryStore, MemoryDatabase } from './memory/memory-store.js';
export type * from './ports.js';
