/**
 * The one place a gateway's secret is read (docs/gateways.md, "Credentials"). `credentials_ref`
 * in `IDEM_GATEWAYS` names where the secret is, never the secret: an environment variable
 * (`env:NAME`, or a bare `NAME`) or a file (`file:PATH`, or a path) readable by its owner only.
 *
 * The value comes back wrapped in a {@link Secret}, which prints, serializes and inspects as
 * `[secret]`, so a log line, an error body or a stored row that picks it up by accident shows
 * nothing. A problem is a `ConfigError` that names the gateway and the reference, never the value.
 */
import { readFileSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import { ConfigError } from '../config/config.js';

/** A secret that only {@link Secret.reveal} shows. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself: hand it to the processor's library, nowhere else. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [inspect.custom](): string {
    return '[secret]';
  }
}

/** What {@link resolveCredential} reads through (tests pass their own environment). */
export interface CredentialSources {
  env: Readonly<Record<string, string | undefined>>;
  readFile?: (path: string) => string;
  /** The file's permission bits. */
  modeOf?: (path: string) => number;
}

const systemSources: CredentialSources = {
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
  modeOf: (path) => statSync(path).mode & 0o777,
};

/**
 * Reads the secret `ref` names for gateway `gateway`. Surrounding whitespace (a file's final
 * newline) is dropped; an empty secret is refused.
 *
 * @example
 * resolveCredential('stripe-eu', 'env:STRIPE_SECRET_KEY').reveal() // 'sk_test_…'
 * resolveCredential('stripe-eu', '/etc/idem/stripe.key')           // ConfigError unless mode 0600 (or 0400)
 */
export function resolveCredential(gateway: string, ref: string, sources: CredentialSources = systemSources): Secret {
  const where = `gateway "${gateway}": credentials_ref "${ref}"`;
  const envName = /^env:(.+)$/.exec(ref)?.[1] ?? (/^[A-Z_][A-Z0-9_]*$/.test(ref) ? ref : undefined);
  if (envName !== undefined) {
    const value = sources.env[envName]?.trim();
    if (value === undefined || value === '') throw new ConfigError(`${where}: environment variable ${envName} is not set or empty`, 'GATEWAY_CREDENTIALS');
    return new Secret(value);
  }
  const path = ref.startsWith('file:') ? ref.slice('file:'.length) : ref;
  const readFile = sources.readFile ?? systemSources.readFile!;
  const modeOf = sources.modeOf ?? systemSources.modeOf!;
  let mode: number;
  let text: string;
  try {
    mode = modeOf(path);
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(
        `${where}: the file is readable or writable by others (mode ${mode.toString(8).padStart(4, '0')}); make it owner-only (chmod 600)`,
        'GATEWAY_CREDENTIALS',
      );
    }
    text = readFile(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${where}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'GATEWAY_CREDENTIALS');
  }
  const value = text.trim();
  if (value === '') throw new ConfigError(`${where}: the file is empty`, 'GATEWAY_CREDENTIALS');
  return new Secret(value);
}
