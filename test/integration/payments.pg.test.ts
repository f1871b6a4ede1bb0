import { openPostgres } from '../../src/db/postgres.js';
import { createTestDatabase, postgresAvailable, redisAvailable, REDIS_URL } from '../support/services.js';
import { paymentsSuite } from './paymentsSuite.js';

paymentsSuite('PostgreSQL', async () => {
  if (!(await postgresAvailable())) return null;
  const database = await createTestDatabase();
  const db = openPostgres(database.url);
  return { db, cleanup: async () => { await db.close(); await database.drop(); } };
});

paymentsSuite('PostgreSQL + Redis', async () => {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return null;
  const database = await createTestDatabase();
  const db = openPostgres(database.url);
  // Keys are prefixed by merchant id, so sharing the index with other suites touches no one else's.
  return { db, redisUrl: `${REDIS_URL}/7`, cleanup: async () => { await db.close(); await database.drop(); } };
});
