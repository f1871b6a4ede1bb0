import { Option, type Command } from 'commander';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { ApiKeyError, createKey, listKeys, revokeKey, rotateKey } from '../merchants/apiKeys.js';
import { cryptoRandom, systemRuntime } from '../ports/clock.js';
import type { Store } from '../store/port.js';
import { SqlStore } from '../store/sql/index.js';

interface CliParts {
  configOrExit(flags: { dataDir?: string }): Config;
  withDatabase(config: Config, fn: (db: Database) => Promise<void>): Promise<void>;
}

/**
 * `idem merchant keys list|create|revoke|rotate <merchant id> …`: the operator's API-key
 * commands. A revoked key stops working on every instance once its auth cache entry ends
 * (`IDEM_AUTH_CACHE_MS`).
 */
export function registerKeyCommands(merchant: Command, cli: CliParts): void {
  const keys = merchant.command('keys').description("manage a merchant's API keys (only prefixes are shown; keys are stored hashed)");
  const dataDir = () => new Option('--data-dir <dir>', 'embedded database folder when DATABASE_URL is absent (default ./.idem)');
  const run = (flags: { dataDir?: string }, fn: (store: Store) => Promise<void>) =>
    cli.withDatabase(cli.configOrExit(flags), async (db) => {
      await migrate(db);
      try {
        await fn(new SqlStore(db));
      } catch (err) {
        if (!(err instanceof ApiKeyError)) throw err;
        process.stderr.write(`idem: ${err.message}\n`);
        process.exitCode = 1;
      }
    });

  keys
    .command('list <merchant>')
    .description("list the merchant's keys: prefix, created, revoked")
    .addOption(dataDir())
    .action((merchantId: string, flags: { dataDir?: string }) =>
      run(flags, async (store) => {
        for (const k of await listKeys(store, merchantId)) {
          process.stdout.write(`${k.prefix}\tcreated ${k.createdAt.toISOString()}\t${k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'live'}\n`);
        }
      }),
    );
  keys
    .command('create <merchant>')
    .description('add a key to the merchant; prints it once')
    .addOption(dataDir())
    .action((merchantId: string, flags: { dataDir?: string }) =>
      run(flags, async (store) => {
        const k = await createKey(store, cryptoRandom, systemRuntime.clock, merchantId);
        process.stdout.write(`api key ${k.apiKey}\nprefix ${k.prefix}\n(the key is shown once; Idem stores only its hash)\n`);
      }),
    );
  keys
    .command('revoke <merchant> <prefix>')
    .description('revoke the live key with this prefix (as shown by list)')
    .addOption(dataDir())
    .action((merchantId: string, prefix: string, flags: { dataDir?: string }) =>
      run(flags, async (store) => {
        await revokeKey(store, systemRuntime.clock, merchantId, prefix);
        process.stdout.write(`revoked ${prefix}; instances stop accepting it within their auth cache time (IDEM_AUTH_CACHE_MS)\n`);
      }),
    );
  keys
    .command('rotate <merchant> <prefix>')
    .description('create a new key and revoke the one with this prefix, at once; prints the new key once')
    .addOption(dataDir())
    .action((merchantId: string, prefix: string, flags: { dataDir?: string }) =>
      run(flags, async (store) => {
        const k = await rotateKey(store, cryptoRandom, systemRuntime.clock, merchantId, prefix);
        process.stdout.write(`api key ${k.apiKey}\nprefix ${k.prefix}\nrevoked ${prefix}\n(the key is shown once; Idem stores only its hash)\n`);
      }),
    );
}
