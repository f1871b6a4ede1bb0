import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { OnProgress } from '../ports/progress.js';
import type { Database } from './database.js';

/** The folder of numbered `.sql` migrations shipped with Idem. */
export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export class SchemaTooNewError extends Error {
  override readonly name = 'SchemaTooNewError';
}

export function readMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{6}\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 6)), name: f, sql: readFileSync(dir + f, 'utf8') }));
}

// Any constant works, as long as every instance uses the same one.
const MIGRATION_LOCK = 7_341_001;

/**
 * Applies pending migrations, each in its own transaction, under a transaction-scoped advisory
 * lock so two instances starting together apply each migration once. Refuses to run against a
 * schema newer than this build knows. Returns the versions it applied. `onProgress` hears of
 * each migration before it runs (one may take long on a large database).
 */
export async function migrate(db: Database, migrations = readMigrations(), onProgress?: OnProgress): Promise<number[]> {
  const latest = migrations.at(-1)?.version ?? 0;
  const applied: number[] = [];
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS idem_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
  });
  for (const [i, m] of migrations.entries()) {
    onProgress?.({ phase: `migration ${m.name}`, done: i, total: migrations.length });
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const { rows } = await tx.query<{ max: number | null }>('SELECT max(version) AS max FROM idem_migrations');
      const current = rows[0]?.max ?? 0;
      if (current > latest) {
        throw new SchemaTooNewError(
          `database schema is at version ${current}, newer than this Idem knows (${latest}); upgrade Idem`,
        );
      }
      const { rowCount } = await tx.query('SELECT 1 FROM idem_migrations WHERE version = $1', [m.version]);
      if (rowCount > 0) return false;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO idem_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  onProgress?.({ phase: 'migrations', done: migrations.length, total: migrations.length });
  return applied;
}
