import { MemoryDatabase, MemoryStore } from '../../controller/store/memory/memory-store.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('memory', async () => {
  // Handles on one MemoryDatabase behave like connections to one database.
  const db = new MemoryDatabase();
  return {
    open: async (opts) => {
      const store = new MemoryStore(db);
      if (opts?.migrate !== false) await store.migrate();
      return store;
    },
    destroy: async () => undefined,
  };
});
