import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The layering rules of .dependency-cruiser.cjs (docs/architecture.md) hold for real: each
 * planted violation, in a throwaway tree shaped like this repository, makes `depcruise` with the
 * project's own configuration fail and name the rule; the same tree without it passes.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A small tree: a domain's port, the composed store and its adapter, a domain file that takes a slice of its port. */
function plant(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'idem-lint-'));
  dirs.push(dir);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'planted', type: 'module' }));
  const base: Record<string, string> = {
    'src/ports/clock.ts': 'export interface Clock { now(): number }\n',
    'src/payments/store.ts': "import type { Clock } from '../ports/clock.js';\nexport interface PaymentStore { clock: Clock }\n",
    'src/store/port.ts': "import type { PaymentStore } from '../payments/store.js';\nexport interface Store extends PaymentStore { kind: string }\n",
    'src/store/sql/payments.ts': "import type { Store } from '../port.js';\nexport const sqlStore = {} as Store;\n",
    'src/db/database.ts': 'export interface Database { query(sql: string): Promise<unknown> }\n',
    'src/payments/service.ts': "import type { PaymentStore } from './store.js';\nexport function pay(s: Pick<PaymentStore, 'clock'>) { return s.clock.now(); }\n",
    'src/client/index.ts': "import { retry } from './retry.js';\nexport const client = { retry };\n",
    'src/client/retry.ts': 'export const retry = (status: number) => status >= 500;\n',
  };
  for (const [path, text] of Object.entries({ ...base, ...files })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function lint(dir: string): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [DEPCRUISE, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err'], { cwd: dir }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as NodeJS.ErrnoException & { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

describe('npm run lint: the layering rules', () => {
  it('passes a tree that keeps them', async () => {
    const r = await lint(plant({}));
    expect(r.out).not.toMatch(/error/);
    expect(r.code).toBe(0);
  });

  const planted: Array<[rule: string, files: Record<string, string>]> = [
    ['domain-imports-no-infrastructure-package', { 'src/payments/leak.ts': "import pg from 'pg';\nexport const p = pg;\n" }],
    ['domain-imports-no-infrastructure-package', { 'src/idempotency/leak.ts': "import { Redis } from 'ioredis';\nexport const r = Redis;\n" }],
    ['domain-imports-no-infrastructure-package', { 'src/payments/leak.ts': "import { trace } from '@opentelemetry/api';\nexport const t = trace;\n" }],
    ['domain-imports-no-infrastructure-package', { 'src/idempotency/leak.ts': "import { pino } from 'pino';\nexport const l = pino;\n" }],
    ['domain-imports-no-adapter', { 'src/ledger/leak.ts': "import { sqlStore } from '../store/sql/payments.js';\nexport const s = sqlStore;\n" }],
    ['domain-imports-no-adapter', { 'src/payments/leak.ts': "import type { Database } from '../db/database.js';\nexport type D = Database;\n" }],
    ['ports-import-nothing-inward', { 'src/ports/leak.ts': "import type { Store } from '../store/port.js';\nexport type S = Store;\n" }],
    ['client-imports-only-client', { 'src/client/leak.ts': "import type { Store } from '../store/port.js';\nexport type S = Store;\n" }],
    ['client-imports-only-client', { 'src/client/leak.ts': "import { createHmac } from 'node:crypto';\nexport const h = createHmac;\n" }],
    ['client-imports-only-client', { 'src/client/leak.ts': "import { Redis } from 'ioredis';\nexport const r = Redis;\n" }],
    [
      'no-circular',
      {
        'src/outbox/a.ts': "import { b } from './b.js';\nexport const a = () => b();\n",
        'src/outbox/b.ts': "import { a } from './a.js';\nexport const b = (): unknown => a;\n",
      },
    ],
    // Type-only imports count: a circle of types is the same knot (once store/port.ts ↔ store/portBatch.ts).
    [
      'no-circular',
      {
        'src/store/port.ts': "import type { BatchWrite } from './batch.js';\nexport interface Store { writeBatch(w: BatchWrite[]): Promise<boolean> }\n",
        'src/store/batch.ts': "import type { Store } from './port.js';\nexport interface BatchWrite { into: Store }\n",
      },
    ],
    [
      'no-circular',
      {
        'src/gateways/port.ts': "import type { GatewayRecord } from '../reconciliation/records.js';\nexport type GatewayOperation = 'authorize';\nexport interface Log { records: GatewayRecord[] }\n",
        'src/reconciliation/records.ts': "import type { GatewayOperation } from '../gateways/port.js';\nexport interface GatewayRecord { operation: GatewayOperation }\n",
      },
    ],
    // The domain never names the composed store or anything else under src/store/, types included.
    ['domain-imports-no-store', { 'src/payments/leak.ts': "import type { Store } from '../store/port.js';\nexport type S = Store;\n" }],
    ['domain-imports-no-store', { 'src/idempotency/leak.ts': "import type { Store } from '../store/port.js';\nexport const sweep = (s: Store) => s.kind;\n" }],
    ['domain-imports-no-store', { 'src/outbox/leak.ts': "import type { Store } from '../store/port.js';\nexport type S = Store;\n" }],
  ];
  for (const [rule, files] of planted) {
    it(`fails on a planted ${rule} (${Object.keys(files).join(', ')})`, async () => {
      const r = await lint(plant(files));
      expect(r.code).not.toBe(0);
      expect(r.out).toContain(rule);
    });
  }
});
