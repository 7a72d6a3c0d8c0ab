import type { Register } from './program.js';

/** Registers the `token` command (filled in by the DEP protocol layer). */
export const registerToken: Register = () => {
  // Not yet available.
};
