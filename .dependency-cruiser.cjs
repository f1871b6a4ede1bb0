/**
 * Idem's layering, enforced (`npm run lint`, part of `npm test`). docs/architecture.md draws it:
 *
 *   api, cli, sim, bench ──► outbox, store adapters, gateway connectors ──► domain ──► ports
 *   client (idem/client) ──► itself only
 *
 * The domain folders (payments, idempotency, ledger, resilience, reconciliation, events,
 * merchants) decide; they reach storage, time, randomness and gateways only through ports
 * (src/ports/, their own `store.ts` beside their rows, src/gateways/port.ts), never through a
 * driver, a server framework or an adapter. src/store/ holds the adapters and the composed
 * `Store` (src/store/port.ts), which only the composition root and the outer ring see. Their
 * integration tests (`*.test.ts` beside them) may wire real adapters. test/lint.test.ts plants a violation of each rule and checks that
 * this file refuses it.
 */
const DOMAIN = '^src/(payments|idempotency|ledger|resilience|reconciliation|events|merchants)/';

module.exports = {
  forbidden: [
    {
      name: 'domain-imports-no-infrastructure-package',
      comment:
        'The domain reaches databases, Redis, HTTP, logs and traces through ports (docs/architecture.md; src/ports/tracing.ts for spans). Put the adapter under src/store/ or src/api/ and inject it.',
      severity: 'error',
      from: { path: DOMAIN, pathNot: '\\.test\\.ts$' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        path: '(^|/)node_modules/(pg|pg-[^/]+|ioredis|@electric-sql/[^/]+|fastify|@fastify/[^/]+|prom-client|pino|pino-[^/]+|commander|@nats-io/[^/]+|@opentelemetry/[^/]+)/',
      },
    },
    {
      name: 'domain-imports-no-adapter',
      comment:
        'The domain sees storage through the ports of its folders (src/<domain>/store.ts, the outbox\'s src/outbox/store.ts) and gateways through src/gateways/port.ts; adapters (SQL, memory, Redis, HTTP, simulator) are wired by the composition root (src/idem.ts).',
      severity: 'error',
      from: { path: DOMAIN, pathNot: '\\.test\\.ts$' },
      to: {
        path: '^src/(db|api|cli|sim|observability|config|composition)/|^src/outbox/(?!store\\.ts$)|^src/idem\\.ts$|^src/store/(?!port)|^src/gateways/(?!(port|router|operations)\\.ts$)',
      },
    },
    {
      name: 'domain-imports-no-store',
      comment:
        'Each domain owns its storage port beside its rows (src/payments/store.ts, src/idempotency/store.ts, …) and its consumers take the narrowest slice of it; src/store/ holds the adapters and the composed `Store`, which the domain never names (docs/architecture.md, "Ports").',
      severity: 'error',
      from: { path: '^src/(payments|idempotency|ledger|resilience|reconciliation|events|merchants|outbox)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/store/' },
    },
    {
      name: 'ports-import-nothing-inward',
      comment: 'src/ports/ is the innermost ring: clock, timers, random, ids.',
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { path: '^src/(?!ports/)' },
    },
    {
      name: 'no-test-code-in-src',
      comment: 'Production code never imports tests, benchmarks or their support.',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'client-imports-only-client',
      comment:
        'idem/client (src/client/) runs in other services and in browser bundles: it imports nothing but itself — no server code, no npm package, no Node built-in (docs/client.md).',
      severity: 'error',
      from: { path: '^src/client/', pathNot: '\\.test\\.ts$' },
      to: { pathNot: '^src/client/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle means two folders are one concern, or a port is missing. Type-only imports count: a type cycle is the same knot.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|dist-bench|dist-all)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
