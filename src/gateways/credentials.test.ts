import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/config.js';
import { resolveCredential } from './credentials.js';

const SECRET = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc';
const dir = mkdtempSync(join(tmpdir(), 'idem-cred-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(ref: string, env: Record<string, string> = {}): ConfigError {
  try {
    resolveCredential('stripe-eu', ref, { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('gateway "stripe-eu"');
    expect((err as Error).message).not.toContain(SECRET);
    return err as ConfigError;
  }
  throw new Error(`${ref} was accepted`);
}

describe('gateway credentials', () => {
  it('reads an environment variable, as env:NAME or a bare NAME', () => {
    expect(resolveCredential('s', 'env:STRIPE_KEY', { env: { STRIPE_KEY: ` ${SECRET}\n` } }).reveal()).toBe(SECRET);
    expect(resolveCredential('s', 'STRIPE_KEY', { env: { STRIPE_KEY: SECRET } }).reveal()).toBe(SECRET);
  });

  it('refuses a variable that is unset or empty, naming the gateway and the variable', () => {
    expect(refusal('env:STRIPE_KEY').message).toMatch(/environment variable STRIPE_KEY is not set or empty/);
    expect(refusal('env:STRIPE_KEY', { STRIPE_KEY: '  ' }).code).toBe('GATEWAY_CREDENTIALS');
  });

  it('reads an owner-only file, as a path or file:PATH', () => {
    const path = join(dir, 'stripe.key');
    writeFileSync(path, `${SECRET}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    expect(resolveCredential('s', path, { env: {} }).reveal()).toBe(SECRET);
    expect(resolveCredential('s', `file:${path}`, { env: {} }).reveal()).toBe(SECRET);
    chmodSync(path, 0o400);
    expect(resolveCredential('s', path, { env: {} }).reveal()).toBe(SECRET);
  });

  it('refuses a file others can read, a missing file and an empty one', () => {
    const open = join(dir, 'open.key');
    writeFileSync(open, SECRET);
    chmodSync(open, 0o644);
    expect(refusal(open).message).toMatch(/mode 0644.*chmod 600/);
    expect(refusal(join(dir, 'missing.key')).message).toMatch(/cannot read the file \(ENOENT\)/);
    const empty = join(dir, 'empty.key');
    writeFileSync(empty, '\n', { mode: 0o600 });
    expect(refusal(empty).message).toMatch(/the file is empty/);
  });

  it('never shows the secret when printed, serialized or inspected', () => {
    const secret = resolveCredential('s', 'env:K', { env: { K: SECRET } });
    const shown = [String(secret), `${secret}`, JSON.stringify({ secret }), inspect({ secret }), inspect(secret, { showHidden: true })];
    for (const s of shown) expect(s).not.toContain(SECRET);
  });
});
