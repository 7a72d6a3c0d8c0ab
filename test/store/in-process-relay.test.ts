import { InProcessRelay } from '../../controller/reconcile/trigger-relay.js';
import { runRelayConformance } from './relay-conformance.js';

runRelayConformance('in-process', () => {
  const bus = new InProcessRelay();
  const otherStore = new InProcessRelay();
  return Promise.resolve({ a: bus, b: bus, otherStore, close: async () => void (await Promise.all([bus.close(), otherStore.close()])) });
});
