import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

/**
 * The schema the migrations build, against a committed snapshot (migrations/schema.snapshot.txt):
 * a migration that changes tables, columns, indexes, constraints or sequences updates the
 * snapshot in the same commit, so a reviewer sees the resulting schema, not only the statements.
 * Regenerate with `IDEM_UPDATE_SCHEMA_SNAPSHOT=1 npx vitest run test/contract/schema.test.ts`.
 */
const SNAPSHOT = fileURLToPath(new URL('../../migrations/schema.snapshot.txt', import.meta.url));

async function describeSchema(db: Queryable): Promise<string> {
  const lines: string[] = [];
  const section = async (title: string, sql: string) => {
    const { rows } = await db.query<{ line: string }>(sql);
    lines.push(`# ${title}`, ...rows.map((r) => r.line), '');
  };
  await section(
    'columns: table.column type null default',
    `SELECT table_name || '.' || column_name || ' ' || data_type
            || CASE WHEN character_maximum_length IS NOT NULL THEN '(' || character_maximum_length || ')' ELSE '' END
            || CASE WHEN is_nullable = 'YES' THEN ' null' ELSE ' not null' END
            || coalesce(' default ' || column_default, '') AS line
       FROM information_schema.columns WHERE table_schema = 'public'
      ORDER BY table_name COLLATE "C", column_name COLLATE "C"`,
  );
  await section(
    'constraints: table name definition',
    `SELECT c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid, true) AS line
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public'
      ORDER BY c.relname COLLATE "C", k.conname COLLATE "C"`,
  );
  await section(
    'indexes: definition',
    `SELECT indexdef AS line FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename COLLATE "C", indexname COLLATE "C"`,
  );
  await section(
    'sequences: name type start increment',
    `SELECT sequence_name || ' ' || data_type || ' ' || start_value || ' ' || increment AS line
       FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY sequence_name COLLATE "C"`,
  );
  return lines.join('\n');
}

describe('schema snapshot', () => {
  let env: { db: ReturnType<typeof openPostgres>; drop: () => Promise<void> } | null = null;

  beforeAll(async () => {
    if (!(await postgresAvailable())) return;
    const database = await createTestDatabase('idem_schema');
    env = { db: openPostgres(database.url), drop: database.drop };
  });
  afterAll(async () => {
    await env?.db.close();
    await env?.drop();
  });

  it('the migrated schema is the committed snapshot', async (ctx) => {
    if (!env) return ctx.skip();
    await migrate(env.db);
    const schema = await describeSchema(env.db);
    if (process.env.IDEM_UPDATE_SCHEMA_SNAPSHOT === '1') writeFileSync(SNAPSHOT, schema);
    const committed = readFileSync(SNAPSHOT, 'utf8');
    expect(schema, 'the migrations changed the schema: update migrations/schema.snapshot.txt in the same commit (see this file)').toBe(committed);
  });
});
