import { openPglite } from '../../src/db/pglite.js';
import { paymentsSuite } from './paymentsSuite.js';

paymentsSuite('embedded PGlite', async () => {
  const db = await openPglite('memory://');
  return { db, cleanup: () => db.close() };
});
