import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../controller/store/open-store.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'depctl-store-'));
  return {
    open: (opts) => openStore(`sqlite:${join(dir, 'state', 'depctl.db')}`, opts),
    destroy: () => rm(dir, { recursive: true, force: true }),
  };
});
