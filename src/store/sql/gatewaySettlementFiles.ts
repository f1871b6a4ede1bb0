import type { Queryable } from '../../db/database.js';
import type { SettlementFile, SettlementFileLog, StoredSettlementFile } from '../../gateways/adyen/settlementFiles.js';

interface Row {
  id: string;
  gateway: string;
  name: string;
  sha256: string;
  size: string;
  modified_at: Date;
  records: StoredSettlementFile['records'];
  rejected: StoredSettlementFile['rejected'];
  read_at: Date;
}

/**
 * Settlement report files read, in PostgreSQL or PGlite (migration 000012, docs/gateways.md,
 * "Settlement reports"): one row per (gateway, name, SHA-256); a copy of a file read before has no records.
 */
export class SqlSettlementFileLog implements SettlementFileLog {
  constructor(private readonly db: Queryable) {}

  async seen(gateway: string, name: string, size: number, modifiedAt: number): Promise<boolean> {
    const { rows } = await this.db.query(`SELECT 1 FROM gateway_settlement_files WHERE gateway = $1 AND name = $2 AND size = $3 AND modified_at = $4 LIMIT 1`, [gateway, name, size, new Date(modifiedAt)]);
    return rows.length > 0;
  }

  async add(gateway: string, file: SettlementFile, readAt: number): Promise<'new' | 'copy'> {
    // One reconciliation pass per gateway at a time (its window is leased): no race between the two statements.
    const { rows: known } = await this.db.query(`SELECT 1 FROM gateway_settlement_files WHERE gateway = $1 AND sha256 = $2 LIMIT 1`, [gateway, file.sha256]);
    const copy = known.length > 0;
    await this.db.query(
      `INSERT INTO gateway_settlement_files (gateway, name, sha256, size, modified_at, records, rejected, copy, read_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9)
       ON CONFLICT (gateway, name, sha256) DO UPDATE SET size = EXCLUDED.size, modified_at = EXCLUDED.modified_at`,
      [gateway, file.name, file.sha256, file.size, new Date(file.modifiedAt), JSON.stringify(copy ? [] : file.records), JSON.stringify(copy ? [] : file.rejected), copy, new Date(readAt)],
    );
    return copy ? 'copy' : 'new';
  }

  async page(gateway: string, afterId: string | null, limit: number): Promise<StoredSettlementFile[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT id::text, gateway, name, sha256, size::text, modified_at, records, rejected, read_at
         FROM gateway_settlement_files WHERE gateway = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [gateway, afterId ?? '0', limit],
    );
    return rows.map((r) => ({
      id: r.id,
      gateway: r.gateway,
      name: r.name,
      sha256: r.sha256,
      size: Number(r.size),
      modifiedAt: new Date(r.modified_at).getTime(),
      records: r.records,
      rejected: r.rejected,
      readAt: new Date(r.read_at).getTime(),
    }));
  }
}
