import type { AdyenNotification, NotificationLog, StoredNotification } from './notifications.js';

/**
 * Notifications kept in memory, for runs without a database (the in-memory store, tests). Same
 * contract as the SQL log (`src/store/sql/gatewayNotifications.ts`): one row per (gateway,
 * pspReference, eventCode, success), ids that grow.
 */
export class MemoryNotificationLog implements NotificationLog {
  private readonly rows: StoredNotification[] = [];
  private readonly seen = new Set<string>();

  async record(gateway: string, items: readonly AdyenNotification[], receivedAt: number): Promise<number> {
    let added = 0;
    for (const item of items) {
      const unique = JSON.stringify([gateway, item.pspReference, item.eventCode, item.success]);
      if (this.seen.has(unique)) continue;
      this.seen.add(unique);
      this.rows.push({ ...item, id: String(this.rows.length + 1), gateway, receivedAt });
      added++;
    }
    return added;
  }

  async find(gateway: string, reference: string): Promise<StoredNotification[]> {
    return this.rows.filter((r) => r.gateway === gateway && r.merchantReference === reference).map((r) => ({ ...r }));
  }

  async findByPsp(gateway: string, pspReference: string): Promise<StoredNotification[]> {
    return this.rows.filter((r) => r.gateway === gateway && r.pspReference === pspReference).map((r) => ({ ...r }));
  }

  async page(gateway: string, afterId: string | null, sinceMs: number, limit: number): Promise<StoredNotification[]> {
    const after = afterId === null ? 0 : Number(afterId);
    return this.rows
      .filter((r) => r.gateway === gateway && Number(r.id) > after && r.receivedAt >= sinceMs)
      .slice(0, limit)
      .map((r) => ({ ...r }));
  }
}
