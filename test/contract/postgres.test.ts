import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';
import { storeContract } from './storeContract.js';

storeContract('PostgreSQL', async () => {
  if (!(await postgresAvailable())) return null;
  const database = await createTestDatabase('idem_contract');
  const db = openPostgres(database.url);
  await migrate(db);
  return {
    store: new SqlStore(db),
    cleanup: async () => {
      await db.close();
      await database.drop();
    },
  };
});
