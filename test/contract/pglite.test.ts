import { migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { storeContract } from './storeContract.js';

storeContract('embedded PGlite', async () => {
  const db = await openPglite('memory://');
  await migrate(db);
  return { store: new SqlStore(db), cleanup: () => db.close() };
});
