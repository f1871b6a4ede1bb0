import { MemoryStore } from '../../src/store/memory/index.js';
import { storeContract } from './storeContract.js';

storeContract('memory', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));
