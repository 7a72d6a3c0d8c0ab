/** depctl's version, sent in the DEP User-Agent (`depctl/<version>`) and printed by --version. */
export const VERSION = '0.1.0';
