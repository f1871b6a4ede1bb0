import { loadConfig } from '../src/config/config.js';
import { createIdem } from '../src/idem.js';
import { createMerchant } from '../src/merchants/merchants.js';
import { cryptoRandom } from '../src/ports/clock.js';
import { MemoryStore } from '../src/store/memory/index.js';

const logging = process.argv[2] === 'log';
const idem = await createIdem({ ...loadConfig({}), port: 0 }, { store: new MemoryStore(), relay: false, sweeper: false, ...(logging ? { logger: { level: 'info' }, logDestination: { write() {} } } : {}) } as never);
const { apiKey } = await createMerchant(idem.store, cryptoRandom, 'b');
const headers = { authorization: `Bearer ${apiKey}`, 'idempotency-key': 'k1', 'content-type': 'application/json' };
const payload = JSON.stringify({ amount: 1000, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
const first = await idem.app.inject({ method: 'POST', url: '/v1/payments', headers, payload });
if (first.statusCode !== 201) throw new Error(first.body);
const run = async (n: number) => {
  for (let i = 0; i < n; i++) {
    const r = await idem.app.inject({ method: 'POST', url: '/v1/payments', headers, payload });
    if (r.headers['idempotent-replayed'] !== 'true') throw new Error('not replayed');
  }
};
await run(5000);
const results: number[] = [];
for (let k = 0; k < 5; k++) {
  const c0 = process.cpuUsage();
  await run(10000);
  const c = process.cpuUsage(c0);
  results.push((c.user + c.system) / 10000);
}
results.sort((a, b) => a - b);
console.log(`${logging ? 'logging' : 'logger off'}: CPU µs per replay (inject), min ${results[0]!.toFixed(1)} median ${results[2]!.toFixed(1)}`);
await idem.close();
