import type { Register } from './program.js';

/** Registers `depctl validate`. */
export const registerValidate: Register = (program) => {
  program.command('validate [dir]').description('validate a config repository offline').action(() => {});
};
