import type { Register } from './program.js';

/** Registers the `keys` command (filled in by the DEP protocol layer). */
export const registerKeys: Register = () => {
  // Not yet available.
};
