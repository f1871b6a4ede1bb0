import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const fails = (env: Record<string, string>, flags = {}) => {
  try {
    loadConfig(env, flags);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('defaults to embedded mode on port 8080 with the documented defaults (README, Configuration)', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, databaseUrl: undefined, redisUrl: undefined, dataDir: './.idem', holdTimeoutMs: 10_000, leaseMs: 30_000, keyTtlS: 86_400 });
    expect(c.gateways.map((g) => g.name)).toEqual(['sim-a', 'sim-b']);
  });

  it('lets flags win over the environment', () => {
    expect(loadConfig({ PORT: '9000' }, { port: '9100', dataDir: '/tmp/x' })).toMatchObject({ port: 9100, dataDir: '/tmp/x' });
  });

  it('says in one line what is wrong', () => {
    expect(fails({ PORT: 'eighty' })).toMatch(/^PORT must be an integer/);
    expect(fails({}, { port: '70000' })).toMatch(/^--port must be/);
    expect(fails({ IDEM_LEASE_MS: '10' })).toMatch(/^IDEM_LEASE_MS/);
    expect(fails({ IDEM_KEY_TTL_S: '60' })).toMatch(/^IDEM_KEY_TTL_S must be an integer from 3600/);
    expect(fails({ DATABASE_URL: 'mysql://u:secret@h/db' })).toMatch(/postgres/);
    expect(fails({ DATABASE_URL: 'mysql://u:secret@h/db' })).not.toContain('secret');
    expect(fails({ REDIS_URL: 'http://x' })).toMatch(/^REDIS_URL/);
    expect(fails({ IDEM_GATEWAYS: '[{"name":"a","kind":"ftp"}]' })).toMatch(/kind/);
    expect(fails({ IDEM_GATEWAYS: '[{"name":"a","kind":"http"}]' })).toMatch(/base_url/);
    expect(fails({ IDEM_GATEWAYS: '{not json' })).toMatch(/not valid JSON/);
    expect(fails({ IDEM_GATEWAYS: '/nonexistent/gateways.json' })).toMatch(/cannot read file/);
  });

  it('reads gateways inline with priorities', () => {
    const c = loadConfig({ IDEM_GATEWAYS: '[{"name":"b","kind":"http","base_url":"http://127.0.0.1:4011/","priority":2},{"name":"a","kind":"simulator","latency_ms":5}]' });
    expect(c.gateways).toEqual([
      expect.objectContaining({ name: 'b', kind: 'http', baseUrl: 'http://127.0.0.1:4011', priority: 2 }),
      expect.objectContaining({ name: 'a', kind: 'simulator', latencyMs: 5, priority: 1 }),
    ]);
  });
});

describe('loadConfig: hardening settings', () => {
  it('defaults to a 30 s request timeout, a connection cap, a failed-auth limit and a 10 s auth cache', () => {
    expect(loadConfig({})).toMatchObject({
      requestTimeoutMs: 30_000,
      maxConnections: 2_048,
      authFailuresPerMinute: 120,
      authCacheMs: 10_000,
      metricsPort: undefined,
      gatewaysDefaulted: true,
    });
    expect(loadConfig({ IDEM_GATEWAYS: '[{"name":"a","kind":"simulator"}]' }).gatewaysDefaulted).toBe(false);
    expect(loadConfig({ IDEM_METRICS_PORT: '9100' }).metricsPort).toBe(9100);
  });

  it('names a bad hardening setting in one line', () => {
    expect(fails({ IDEM_REQUEST_TIMEOUT_MS: '10' })).toContain('IDEM_REQUEST_TIMEOUT_MS');
    expect(fails({ IDEM_MAX_CONNECTIONS: '0' })).toContain('IDEM_MAX_CONNECTIONS');
    expect(fails({ IDEM_METRICS_PORT: 'x' })).toContain('IDEM_METRICS_PORT');
  });
});
