/**
 * Wakes requests held on a key when that key changes (completed or released), on this
 * instance and on every other. Watching is a local registration, cheap enough to do for every
 * held request; one remote subscription per instance carries every key's changes.
 *
 * The remote adapters live with the infrastructure (docs/architecture.md): Redis pub/sub in
 * src/store/redis/keyEvents.ts, Redis Cluster sharded pub/sub in
 * src/store/redis/clusterKeyEvents.ts, PostgreSQL LISTEN/NOTIFY in src/store/pg/keyEvents.ts.
 */
export interface KeyEvents {
  watch(merchantId: string, key: string, onChange: () => void): () => void;
  /**
   * For notifiers that subscribe per key (a Redis Cluster's sharded channels): resolves true
   * once a change of this watched key would reach this instance, false when it cannot now (the
   * waiter then re-checks on the short timer). Absent: notices reach the instance whenever
   * `healthy` says so.
   */
  listening?(merchantId: string, key: string): Promise<boolean>;
  /**
   * For notifiers that can lose a notice without knowing it (a Redis Cluster shard that hands
   * its slots to another node, or refuses a publish with CLUSTERDOWN while subscriptions stay
   * up): a held request re-reads its key at least this often even while listening, so a lost
   * notice costs at most this long. Absent: waiters trust the notices while `healthy`.
   */
  readonly recheckMs?: number;
  /** Best effort: a lost notice only delays waiters until their own timer. */
  publish(merchantId: string, key: string): Promise<void>;
  /** False while the remote channel is down; waiters then re-check on a short timer instead. */
  readonly healthy: boolean;
  close(): Promise<void>;
}

/** In-process delivery: the embedded mode's whole notifier, and the local half of the others. */
export class LocalKeyEvents implements KeyEvents {
  private readonly watchers = new Map<string, Set<() => void>>();
  readonly healthy: boolean = true;

  watch(merchantId: string, key: string, onChange: () => void): () => void {
    const id = keyChannelId(merchantId, key);
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(onChange);
    return () => {
      set.delete(onChange);
      if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
    };
  }

  /** Wakes local watchers of the key named by `id`. */
  deliver(id: string): void {
    const set = this.watchers.get(id);
    if (set) for (const fn of [...set]) fn();
  }

  /**
   * Wakes every local watcher. For a remote channel that was just lost: notices sent while it
   * is down never arrive, so waiters re-check now and then wait on the short degraded timer.
   */
  deliverAll(): void {
    for (const set of [...this.watchers.values()]) for (const fn of [...set]) fn();
  }

  async publish(merchantId: string, key: string): Promise<void> {
    this.deliver(keyChannelId(merchantId, key));
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }
}

/** Merchant ids never contain a space, so the first space separates them from the key. */
export function keyChannelId(merchantId: string, key: string): string {
  return merchantId + ' ' + key;
}
