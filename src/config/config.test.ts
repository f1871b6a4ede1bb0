import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseRedisUrl } from './config.js';
import { ENV_SETTINGS } from './env.js';

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

  it('sheds overload by default: IDEM_CONCURRENCY_LIMIT adaptive, a number, or off', () => {
    expect(loadConfig({})).toMatchObject({ concurrencyLimit: 'adaptive', concurrencyMax: 1_000 });
    expect(loadConfig({ IDEM_CONCURRENCY_LIMIT: '64' }).concurrencyLimit).toBe(64);
    expect(loadConfig({ IDEM_CONCURRENCY_LIMIT: 'OFF' }).concurrencyLimit).toBe('off');
    expect(fails({ IDEM_CONCURRENCY_LIMIT: 'lots' })).toMatch(/^IDEM_CONCURRENCY_LIMIT must be adaptive, off or an integer/);
    expect(fails({ IDEM_CONCURRENCY_LIMIT: '0' })).toMatch(/^IDEM_CONCURRENCY_LIMIT must be an integer from 1/);
    expect(fails({ IDEM_CONCURRENCY_MAX: '2' })).toMatch(/^IDEM_CONCURRENCY_MAX must be an integer from 4/);
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

  it('takes the real processors, each with a credentials reference, never a secret', () => {
    const c = loadConfig({
      IDEM_GATEWAYS: '[{"name":"st","kind":"stripe","credentials_ref":"env:STRIPE_KEY"},{"name":"ad","kind":"adyen","credentials_ref":"/etc/idem/adyen.key","base_url":"http://127.0.0.1:9"}]',
    });
    expect(c.gateways).toEqual([
      expect.objectContaining({ name: 'st', kind: 'stripe', credentialsRef: 'env:STRIPE_KEY' }),
      expect.objectContaining({ name: 'ad', kind: 'adyen', credentialsRef: '/etc/idem/adyen.key', baseUrl: 'http://127.0.0.1:9' }),
    ]);
    expect(fails({ IDEM_GATEWAYS: '[{"name":"st","kind":"stripe"}]' })).toMatch(/credentials_ref is required for kind "stripe" \(gateway "st"\)/);
    // A secret pasted where its reference belongs is refused without being echoed.
    const pasted = fails({ IDEM_GATEWAYS: '[{"name":"st","kind":"stripe","credentials_ref":"sk_test_51Abc"}]' });
    expect(pasted).toMatch(/credentials_ref must be "env:NAME" or a file path/);
    expect(pasted).not.toContain('sk_test');
    expect(fails({ IDEM_GATEWAYS: '[{"name":"st","kind":"stripe","credentials_ref":"env:K","base_url":"ftp://x"}]' })).toMatch(/base_url/);
  });

  it('takes search_settle_ms for a stripe gateway only', () => {
    const c = loadConfig({ IDEM_GATEWAYS: '[{"name":"st","kind":"stripe","credentials_ref":"env:K","search_settle_ms":2000}]' });
    expect(c.gateways[0]).toMatchObject({ searchSettleMs: 2000 });
    expect(loadConfig({ IDEM_GATEWAYS: '[{"name":"st","kind":"stripe","credentials_ref":"env:K"}]' }).gateways[0]!.searchSettleMs).toBeUndefined();
    expect(fails({ IDEM_GATEWAYS: '[{"name":"ad","kind":"adyen","credentials_ref":"env:K","search_settle_ms":2000}]' })).toMatch(/search_settle_ms is only for kind "stripe"/);
    expect(fails({ IDEM_GATEWAYS: '[{"name":"st","kind":"stripe","credentials_ref":"env:K","search_settle_ms":-1}]' })).toMatch(/search_settle_ms must be an integer from 0/);
  });

  it('takes settlement_reports_dir for an adyen gateway only', () => {
    const c = loadConfig({ IDEM_GATEWAYS: '[{"name":"ad","kind":"adyen","credentials_ref":"env:K","settlement_reports_dir":"/var/lib/idem/reports"}]' });
    expect(c.gateways[0]).toMatchObject({ kind: 'adyen', settlementReportsDir: '/var/lib/idem/reports' });
    expect(fails({ IDEM_GATEWAYS: '[{"name":"st","kind":"stripe","credentials_ref":"env:K","settlement_reports_dir":"/x"}]' })).toMatch(/settlement_reports_dir .*only for kind "adyen"/);
    expect(fails({ IDEM_GATEWAYS: '[{"name":"ad","kind":"adyen","credentials_ref":"env:K","settlement_reports_dir":" "}]' })).toMatch(/settlement_reports_dir/);
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
    // `/metrics` is on no port of the API unless asked: its own port, or `api` (unauthenticated, for local use).
    expect(loadConfig({})).toMatchObject({ metricsPort: undefined, metricsOnApi: false });
    expect(loadConfig({ IDEM_METRICS_PORT: '9100' }).metricsOnApi).toBe(false);
    expect(loadConfig({ IDEM_METRICS_PORT: 'api' })).toMatchObject({ metricsPort: undefined, metricsOnApi: true });
  });

  it('names a bad hardening setting in one line', () => {
    expect(fails({ IDEM_REQUEST_TIMEOUT_MS: '10' })).toContain('IDEM_REQUEST_TIMEOUT_MS');
    expect(fails({ IDEM_MAX_CONNECTIONS: '0' })).toContain('IDEM_MAX_CONNECTIONS');
    expect(fails({ IDEM_METRICS_PORT: 'x' })).toContain('IDEM_METRICS_PORT');
  });
});

describe('REDIS_URL: one server or a Redis Cluster', () => {
  const code = (url: string) => {
    try {
      parseRedisUrl(url);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return { code: (err as ConfigError).code, message: (err as Error).message };
    }
    throw new Error('expected a ConfigError');
  };

  it('reads redis:// and rediss:// as one server, unchanged', () => {
    expect(loadConfig({ REDIS_URL: 'redis://cache:6379/2' }).redis).toEqual({ mode: 'single', url: 'redis://cache:6379/2' });
    expect(parseRedisUrl('rediss://u:p@cache:6380')).toEqual({ mode: 'single', url: 'rediss://u:p@cache:6380' });
  });

  it('reads redis+cluster:// as seed nodes, with credentials, TLS, IPv6 and the default port', () => {
    expect(loadConfig({ REDIS_URL: 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001,cache-3' }).redis).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
        { host: 'cache-3', port: 6379 },
      ],
      username: undefined,
      password: undefined,
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://idem:s%40cret@[::1]:7000/')).toEqual({ mode: 'cluster', nodes: [{ host: '::1', port: 7000 }], username: 'idem', password: 's@cret', tls: true });
    expect(parseRedisUrl('redis+cluster://:pw@h:1/0')).toMatchObject({ username: undefined, password: 'pw' });
  });

  it('refuses what it cannot read, with a stable code and without the password', () => {
    expect(code('http://x')).toMatchObject({ code: 'REDIS_URL_INVALID', message: expect.stringMatching(/^REDIS_URL must start with/) });
    expect(code('redis://u:secret@a:1,b:2')).toMatchObject({ code: 'REDIS_URL_INVALID', message: expect.stringContaining('redis+cluster://host1:port1,host2:port2') });
    expect(code('redis://u:secret@a:1,b:2').message).not.toContain('secret');
    expect(code('redis+cluster://a:1/3')).toMatchObject({ code: 'REDIS_URL_INVALID', message: expect.stringContaining('only database 0') });
    expect(code('redis+cluster://a:1?tls=1')).toMatchObject({ code: 'REDIS_URL_INVALID' });
    expect(code('redis+cluster://')).toMatchObject({ code: 'REDIS_URL_INVALID' });
    expect(code('redis+cluster://a:1,,b:2')).toEqual({ code: 'REDIS_CLUSTER_NODE_INVALID', message: 'REDIS_URL: cluster node 2 must be host:port (got "")' });
    expect(code('redis+cluster://a:99999')).toMatchObject({ code: 'REDIS_CLUSTER_NODE_INVALID' });
    expect(code('redis+cluster://a:1,A:1')).toMatchObject({ code: 'REDIS_CLUSTER_NODE_INVALID', message: expect.stringContaining('listed twice') });
  });
});

describe('IDEM_PG_POOL_MAX', () => {
  it('defaults to 20 connections per instance and takes 4 to 1000', () => {
    expect(loadConfig({}).pgPoolMax).toBe(20);
    expect(loadConfig({ IDEM_PG_POOL_MAX: '7' }).pgPoolMax).toBe(7);
    expect(fails({ IDEM_PG_POOL_MAX: '3' })).toMatch(/^IDEM_PG_POOL_MAX must be an integer from 4 to 1000/);
  });
});

describe('IDEM_SIMULATOR_RETENTION_MS and IDEM_DEBUG_HEAP', () => {
  it('keeps a simulated gateway\'s history 3 minutes by default, at least 10 reconciliation intervals', () => {
    expect(loadConfig({}).simulatorRetentionMs).toBe(180_000);
    expect(loadConfig({ IDEM_SIMULATOR_RETENTION_MS: '600000', IDEM_RECONCILE_INTERVAL_MS: '60000' }).simulatorRetentionMs).toBe(600_000);
    expect(fails({ IDEM_SIMULATOR_RETENTION_MS: '1000' })).toMatch(/^IDEM_SIMULATOR_RETENTION_MS must be an integer from 60000/);
    expect(fails({ IDEM_RECONCILE_INTERVAL_MS: '30000', IDEM_SIMULATOR_RETENTION_MS: '180000' })).toMatch(/^IDEM_SIMULATOR_RETENTION_MS \(180000\) must be at least 10 × IDEM_RECONCILE_INTERVAL_MS \(30000\)/);
    // Unset, it follows a longer interval instead of stopping Idem.
    expect(loadConfig({ IDEM_RECONCILE_INTERVAL_MS: '30000' }).simulatorRetentionMs).toBe(300_000);
    // Reconciliation off: nothing reads the log, any retention will do.
    expect(loadConfig({ IDEM_RECONCILE_INTERVAL_MS: '0', IDEM_SIMULATOR_RETENTION_MS: '60000' }).simulatorRetentionMs).toBe(60_000);
  });

  it('serves no heap endpoint unless IDEM_DEBUG_HEAP=1', () => {
    expect(loadConfig({}).debugHeap).toBe(false);
    expect(loadConfig({ IDEM_DEBUG_HEAP: 'yes' }).debugHeap).toBe(false);
    expect(loadConfig({ IDEM_DEBUG_HEAP: '1' }).debugHeap).toBe(true);
  });
});

describe('loadConfig: the operator key', () => {
  it('is absent unless set, and refused when short or with characters a bearer token cannot carry', () => {
    expect(loadConfig({}).operatorKey).toBeUndefined();
    expect(loadConfig({ IDEM_OPERATOR_KEY: 'op_0123456789abcdefghijklmnopqrstuv' }).operatorKey).toBe('op_0123456789abcdefghijklmnopqrstuv');
    expect(() => loadConfig({ IDEM_OPERATOR_KEY: 'short' })).toThrow(/IDEM_OPERATOR_KEY/);
    expect(() => loadConfig({ IDEM_OPERATOR_KEY: 'op 0123456789abcdefghijklmnopqrstuvwxyz' })).toThrow(/IDEM_OPERATOR_KEY/);
  });
});

describe('the table of environment variables (src/config/env.ts)', () => {
  it('names exactly what loadConfig reads, besides the client settings the HTTP commands read', () => {
    const read = new Set<string>();
    const recording = new Proxy({} as Record<string, string | undefined>, {
      get(_, name) {
        if (typeof name === 'string') read.add(name);
        return undefined;
      },
    });
    loadConfig(recording);
    const table = ENV_SETTINGS.filter((s) => s.group !== 'client').map((s) => s.name);
    expect([...read].sort()).toEqual([...table].sort());
  });

  it('has one row per name, each with an example', () => {
    const names = ENV_SETTINGS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const s of ENV_SETTINGS) expect(s.example, s.name).not.toBe('');
  });
});
