import { describe, expect, it } from 'vitest';
import { isConnectionError } from './database.js';

// What pg, pg-pool and Node say when PostgreSQL restarts under a request (seen in
// test/integration/db-restart.test.ts): each must answer 503 UNAVAILABLE, never 500.
describe('isConnectionError', () => {
  it.each([
    ['a fast shutdown', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['a crash of another backend', Object.assign(new Error('terminating connection because of crash of another server process'), { code: '57P02' })],
    ['the server starting up', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
    ['the socket closing', new Error('Connection terminated unexpectedly')],
    ['a client after its socket closed', new Error('Client has encountered a connection error and is not queryable')],
    ['the pool timing out on a new connection', new Error('timeout exceeded when trying to connect')],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['too many connections', Object.assign(new Error('sorry, too many clients already'), { code: '53300' })],
  ])('%s is a connection error', (_what, err) => {
    expect(isConnectionError(err)).toBe(true);
  });

  it.each([
    ['a syntax error', Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' })],
    ['a unique violation', Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' })],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['nothing', null],
  ])('%s is not', (_what, err) => {
    expect(isConnectionError(err)).toBe(false);
  });
});
