import type { Queryable } from '../../db/database.js';
import type { AdyenNotification, NotificationLog, StoredNotification } from '../../gateways/adyen/notifications.js';

interface Row {
  id: string;
  gateway: string;
  psp_reference: string;
  original_reference: string | null;
  merchant_account: string;
  merchant_reference: string;
  event_code: string;
  success: boolean;
  amount: string;
  currency: string;
  event_date: string;
  reason: string | null;
  received_at: Date;
}

const COLUMNS = `id::text, gateway, psp_reference, original_reference, merchant_account, merchant_reference, event_code, success, amount::text, currency, event_date, reason, received_at`;

/**
 * Processors' notifications in PostgreSQL or PGlite (migration 000011, docs/gateways.md). A
 * notification already stored is kept as it was (`ON CONFLICT DO NOTHING`), so Adyen's
 * re-deliveries change nothing.
 */
export class SqlNotificationLog implements NotificationLog {
  constructor(private readonly db: Queryable) {}

  async record(gateway: string, items: readonly AdyenNotification[], receivedAt: number): Promise<number> {
    if (items.length === 0) return 0;
    const { rows } = await this.db.query<{ id: string }>(
      `INSERT INTO gateway_notifications (gateway, psp_reference, original_reference, merchant_account, merchant_reference, event_code, success, amount, currency, event_date, reason, received_at)
       SELECT $1, n->>'pspReference', n->>'originalReference', n->>'merchantAccount', n->>'merchantReference', n->>'eventCode',
              (n->>'success')::boolean, (n->>'amount')::bigint, n->>'currency', n->>'eventDate', n->>'reason', $3
         FROM jsonb_array_elements($2::jsonb) AS n
       ON CONFLICT (gateway, psp_reference, event_code, success) DO NOTHING
       RETURNING id::text`,
      [gateway, JSON.stringify(items), new Date(receivedAt)],
    );
    return rows.length;
  }

  async find(gateway: string, reference: string): Promise<StoredNotification[]> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM gateway_notifications WHERE gateway = $1 AND merchant_reference = $2 ORDER BY id`, [gateway, reference]);
    return rows.map(toStored);
  }

  async findByPsp(gateway: string, pspReference: string): Promise<StoredNotification[]> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM gateway_notifications WHERE gateway = $1 AND psp_reference = $2 ORDER BY id`, [gateway, pspReference]);
    return rows.map(toStored);
  }

  async page(gateway: string, afterId: string | null, sinceMs: number, limit: number): Promise<StoredNotification[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM gateway_notifications WHERE gateway = $1 AND id > $2 AND received_at >= $3 ORDER BY id LIMIT $4`,
      [gateway, afterId ?? '0', new Date(sinceMs), limit],
    );
    return rows.map(toStored);
  }
}

function toStored(r: Row): StoredNotification {
  return {
    id: r.id,
    gateway: r.gateway,
    pspReference: r.psp_reference,
    originalReference: r.original_reference,
    merchantAccount: r.merchant_account,
    merchantReference: r.merchant_reference,
    eventCode: r.event_code,
    success: r.success,
    amount: Number(r.amount),
    currency: r.currency,
    eventDate: r.event_date,
    reason: r.reason,
    receivedAt: new Date(r.received_at).getTime(),
  };
}
