import { openPglite } from '../../src/db/pglite.js';
import { gateSuite } from './gateSuite.js';

gateSuite('embedded PGlite', async () => {
  const db = await openPglite('memory://');
  return { db, cleanup: () => db.close() };
});
