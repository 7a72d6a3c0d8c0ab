/**
 * Who to tell when a leadership lock is lost without a release (LeaderLock.onLeadershipLost), by lock name:
 * shared by the PostgreSQL (session ended) and SQLite (lock row taken over) leadership.
 */
export class LockLossListeners {
  private readonly byName = new Map<string, Set<() => void>>();

  /** Adds `listener` for `name`; returns a function that removes it. */
  add(name: string, listener: () => void): () => void {
    let set = this.byName.get(name);
    if (!set) this.byName.set(name, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** Calls every listener of `name` (a copy of the set: a listener may unsubscribe while called). */
  notify(name: string): void {
    for (const listener of [...(this.byName.get(name) ?? [])]) listener();
  }
}
