/**
 * What a shed costs the server, alone (docs/performance.md, "Overload"): the API as buildApp
 * composes it (request logging on, to /dev/null; auth stubbed to a cached key), its gate
 * stubbed to shed every POST /v1/payments at `screen` (the Redis EXISTS left out), loaded by
 * autocannon from a child process; prints the server process's CPU per answer. A build
 * before src/api/shed.ts (no dist/api/shed.js) is driven the old way, its screen throwing the
 * IdemError it threw then, so two builds can be compared on the same machine in turn.
 *
 *   npm run build && node bench/shedCost.mjs dist [connections=50] [seconds=5]
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
const [distArg, conns = '50', secs = '5'] = process.argv.slice(2);
const dist = resolve(distArg);
if (process.argv[5] === 'load') {
  const { default: autocannon } = await import('autocannon');
  let n = 0;
  const r = await autocannon({ url: process.argv[6], connections: Number(conns), duration: Number(secs),
    requests: [{ method: 'POST', path: '/v1/payments', headers: { authorization: 'Bearer sk_test_abc', 'content-type': 'application/json' }, body: '{"amount":1000,"currency":"EUR"}',
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'idempotency-key': `k-${++n}` } }) }] });
  process.send({ total: r.requests.total, non2xx: r.non2xx, errors: r.errors, s503: r['5xx'] });
  process.exit(0);
}
const { buildApp } = await import(`${dist}/api/app.js`);
const { Metrics } = await import(`${dist}/observability/metrics.js`);
const { IdemError } = await import(`${dist}/errors/registry.js`);
const { default: pino } = await import('pino');
const isNew = existsSync(`${dist}/api/shed.js`);
const gate = isNew
  ? { screen: () => Promise.resolve(1) }
  : { screen: async (_m, key) => { throw new IdemError('UNAVAILABLE', `this instance is at its limit of requests in progress; nothing was done with Idempotency-Key "${key}": retry it after Retry-After`, { headers: { 'retry-after': '1' } }); } };
const log = pino({ level: 'info' }, pino.destination('/dev/null'));
const app = await buildApp({ gate, auth: { authenticate: async () => 'mer_1', cached: () => 'mer_1' }, payments: {}, gateways: {}, metrics: new Metrics(), probe: {}, log });
const url = await app.listen({ host: '127.0.0.1', port: 0 });
const child = fork(new URL(import.meta.url).pathname, [distArg, conns, secs, 'load', url]);
const c0 = process.cpuUsage();
const r = await new Promise((res) => child.on('message', res));
const c = process.cpuUsage(c0);
if (r.total === 0 || r.s503 !== r.total || r.errors > 0) process.exitCode = 1; // every answer must be a shed
console.log(JSON.stringify({ build: isNew ? 'new' : 'old', ...r, serverCpuUsPerAnswer: Math.round((c.user + c.system) / r.total) }));
await app.close();
