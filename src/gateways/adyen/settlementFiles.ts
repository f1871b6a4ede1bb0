/**
 * Adyen Settlement details reports as a source of the gateway's log (docs/gateways.md,
 * "Settlement reports"): the CSV files found in the gateway's `settlement_reports_dir`, each read
 * once — remembered by name and SHA-256, so a file read before, or a copy of it under another
 * name, is nothing new — parsed by `parseSettlementReport` (./settlement.ts) and kept with its
 * records, which the connector hands to reconciliation by the file's row id.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSettlementReport, type SettlementRecord } from './settlement.js';

/** One report file as read: its records (gross as the record's amount, net beside it) and the rows it could not read. */
export interface SettlementFile {
  name: string;
  sha256: string;
  size: number;
  modifiedAt: number;
  records: SettlementRecord[];
  rejected: Array<{ line: number; reason: string }>;
}

export interface StoredSettlementFile extends SettlementFile {
  /** Its row id: the log's cursor (`s:<id>`). */
  id: string;
  gateway: string;
  readAt: number;
}

/**
 * Where the report files read are remembered (`src/store/sql/gatewaySettlementFiles.ts`, or
 * {@link MemorySettlementFileLog}). One row per (gateway, name, SHA-256); a copy of a file kept
 * before (its SHA-256 known under another name) is kept with no records.
 */
export interface SettlementFileLog {
  /** Whether a file of this name, size and modification time was read already (it is then not read again). */
  seen(gateway: string, name: string, size: number, modifiedAt: number): Promise<boolean>;
  /**
   * Keeps a file read: `new` (its records go to reconciliation), or `copy` when its SHA-256 was
   * kept before, under this name or another (kept with no records, so it is not opened again).
   */
  add(gateway: string, file: SettlementFile, readAt: number): Promise<'new' | 'copy'>;
  /** Up to `limit` files kept after row `afterId` (from the start when null), by id. */
  page(gateway: string, afterId: string | null, limit: number): Promise<StoredSettlementFile[]>;
}

/** What one look at the folder did, for logs and tests. */
export interface SettlementScan {
  read: string[];
  copies: string[];
  /** Files that could not be read (named, with why); looked at again next time. */
  failed: Array<{ name: string; reason: string }>;
}

/** Report files Idem takes from the folder: Adyen names them `settlement_detail_report_batch_<n>.csv`; any `.csv` is read. */
const REPORT_FILE = /\.csv$/i;

/**
 * Reads the report files in `dir` that were not read before and keeps them in `log`. A file
 * whose name, size and modification time are known is not opened; one that is opened and whose
 * SHA-256 is known (a copy, or a file touched but not changed) adds nothing.
 *
 * @example
 * await scanSettlementReports('adyen', '/var/lib/idem/adyen-reports', log, clock.now());
 * // → { read: ['settlement_detail_report_batch_12.csv'], copies: [], failed: [] }
 */
export async function scanSettlementReports(gateway: string, dir: string, log: SettlementFileLog, now: number): Promise<SettlementScan> {
  const scan: SettlementScan = { read: [], copies: [], failed: [] };
  const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && REPORT_FILE.test(e.name)).map((e) => e.name).sort();
  for (const name of names) {
    const path = join(dir, name);
    try {
      const info = await stat(path);
      const modifiedAt = Math.floor(info.mtimeMs);
      if (await log.seen(gateway, name, info.size, modifiedAt)) continue;
      const bytes = await readFile(path);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const parsed = parseSettlementReport(gateway, bytes.toString('utf8'));
      const file: SettlementFile = parsed.ok
        ? { name, sha256, size: info.size, modifiedAt, records: parsed.records, rejected: parsed.rejected }
        : { name, sha256, size: info.size, modifiedAt, records: [], rejected: [{ line: 1, reason: parsed.reason }] };
      if ((await log.add(gateway, file, now)) === 'new') scan.read.push(name);
      else scan.copies.push(name);
    } catch (err) {
      scan.failed.push({ name, reason: (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'error') });
    }
  }
  return scan;
}

/** The report files read, in memory (runs without a database, tests). Same contract as the SQL log. */
export class MemorySettlementFileLog implements SettlementFileLog {
  private readonly rows: StoredSettlementFile[] = [];

  async seen(gateway: string, name: string, size: number, modifiedAt: number): Promise<boolean> {
    return this.rows.some((r) => r.gateway === gateway && r.name === name && r.size === size && r.modifiedAt === modifiedAt);
  }

  async add(gateway: string, file: SettlementFile, readAt: number): Promise<'new' | 'copy'> {
    const same = this.rows.find((r) => r.gateway === gateway && r.name === file.name && r.sha256 === file.sha256);
    if (same !== undefined) {
      // Touched, not changed: remembered as it is now, so it is not opened again.
      Object.assign(same, { size: file.size, modifiedAt: file.modifiedAt });
      return 'copy';
    }
    const copy = this.rows.some((r) => r.gateway === gateway && r.sha256 === file.sha256);
    this.rows.push({ ...file, ...(copy ? { records: [], rejected: [] } : {}), id: String(this.rows.length + 1), gateway, readAt });
    return copy ? 'copy' : 'new';
  }

  async page(gateway: string, afterId: string | null, limit: number): Promise<StoredSettlementFile[]> {
    const after = afterId === null ? 0 : Number(afterId);
    return this.rows.filter((r) => r.gateway === gateway && Number(r.id) > after).slice(0, limit);
  }
}
