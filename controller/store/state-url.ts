/** The default state location (DESIGN.md: `.depctl/state.db`). */
export const DEFAULT_STATE_URL = 'sqlite:.depctl/state.db';
