import { openPostgres } from '../../src/db/postgres.js';
import { createTestDatabase, postgresAvailable, redisAvailable, REDIS_URL } from '../support/services.js';
import { gateSuite } from './gateSuite.js';

gateSuite('PostgreSQL', async () => {
  if (!(await postgresAvailable())) return null;
  const database = await createTestDatabase();
  const db = openPostgres(database.url);
  return { db, cleanup: async () => { await db.close(); await database.drop(); } };
});

gateSuite('PostgreSQL + Redis', async () => {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return null;
  const database = await createTestDatabase();
  const db = openPostgres(database.url);
  // A database index of its own, so flushing it in the suite touches no one else's keys.
  return { db, redisUrl: `${REDIS_URL}/7`, cleanup: async () => { await db.close(); await database.drop(); } };
});
