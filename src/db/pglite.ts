import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database.js';
import { makeDataDirPrivate, withPrivateUmask } from './privateDir.js';

/**
 * Opens embedded PostgreSQL (PGlite) behind the `Database` port: in `dataDir`, or in memory
 * when `dataDir` is `memory://`. One connection: PGlite runs statements one at a time and a
 * transaction holds it until it ends.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  const onDisk = !dataDir.startsWith('memory://');
  if (onDisk) makeDataDirPrivate(dataDir, { deep: false });
  const db = await withPrivateUmask(() =>
    PGlite.create(dataDir, {
      parsers: { [pgliteTypes.INT8]: (v: string) => Number(v) },
    }),
  );
  // What PGlite created before the umask applied (or a later process left) is made private too.
  if (onDisk) makeDataDirPrivate(dataDir);

  const wrap = (client: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await client.query<T>(sql, params as unknown[] | undefined);
      return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
    },
    async exec(sql: string) {
      await client.exec(sql);
    },
  });

  return {
    kind: 'pglite',
    ...wrap(db),
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction((tx) => fn(wrap(tx)));
    },
    async close() {
      await db.close();
    },
  };
}
