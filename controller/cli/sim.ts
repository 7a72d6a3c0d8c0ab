import type { Register } from './program.js';

/** Registers the `sim` command (filled in by the DEP protocol layer). */
export const registerSim: Register = () => {
  // Not yet available.
};
