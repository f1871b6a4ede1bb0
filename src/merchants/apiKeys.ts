import type { Clock, Random } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import type { Transactional } from '../ports/transaction.js';
import type { ApiKeyRow, MerchantStore } from './store.js';
import { hashApiKey } from './merchants.js';

/** What managing a merchant's keys uses: the merchants' port, and transactions over its key operations. */
type KeyAdmin = MerchantStore & Transactional<Pick<MerchantStore, 'listApiKeys' | 'insertApiKey' | 'revokeApiKeys'>>;

/** An operator's mistake in a key command (unknown merchant, a prefix naming no key or several), one line. */
export class ApiKeyError extends Error {
  override readonly name = 'ApiKeyError';
}

export type { ApiKeyRow };

/** The merchant's keys, revoked ones included (never the keys themselves: only their prefixes). */
export async function listKeys(store: KeyAdmin, merchantId: string): Promise<ApiKeyRow[]> {
  if (!(await store.merchantExists(merchantId))) throw new ApiKeyError(`no merchant ${merchantId}`);
  return store.listApiKeys(merchantId);
}

/** A new key for the merchant, returned once; only its hash is stored. */
export async function createKey(store: KeyAdmin, random: Random, clock: Clock, merchantId: string): Promise<{ apiKey: string; prefix: string }> {
  const apiKey = newId(random, 'sk', 40);
  const prefix = apiKey.slice(0, 7);
  if (!(await store.insertApiKey(merchantId, hashApiKey(apiKey), prefix, new Date(clock.now())))) throw new ApiKeyError(`no merchant ${merchantId}`);
  return { apiKey, prefix };
}

/**
 * Revokes the one live key with this prefix. Instances stop accepting it once their auth cache
 * entry for it ends (`IDEM_AUTH_CACHE_MS`, default 10 s).
 */
export async function revokeKey(store: KeyAdmin, clock: Clock, merchantId: string, prefix: string): Promise<void> {
  await store.transaction(async (tx) => {
    const live = (await tx.listApiKeys(merchantId)).filter((k) => k.prefix === prefix && k.revokedAt === null);
    if (live.length === 0) throw new ApiKeyError(`merchant ${merchantId} has no live key with prefix ${prefix}`);
    if (live.length > 1) throw new ApiKeyError(`merchant ${merchantId} has ${live.length} live keys with prefix ${prefix}; rotate them all or revoke by another prefix`);
    await tx.revokeApiKeys(merchantId, prefix, new Date(clock.now()));
  });
}

/**
 * Rotation: a new key is created and the old one revoked, in one transaction. Deploy the new key
 * before rotating if clients must not see a 401; or create, deploy, then revoke.
 */
export async function rotateKey(store: KeyAdmin, random: Random, clock: Clock, merchantId: string, prefix: string): Promise<{ apiKey: string; prefix: string }> {
  return store.transaction(async (tx) => {
    const live = (await tx.listApiKeys(merchantId)).filter((k) => k.prefix === prefix && k.revokedAt === null);
    if (live.length !== 1) throw new ApiKeyError(`merchant ${merchantId} has ${live.length === 0 ? 'no' : live.length} live key${live.length === 1 ? '' : 's'} with prefix ${prefix}`);
    let apiKey = newId(random, 'sk', 40);
    while (apiKey.slice(0, 7) === prefix) apiKey = newId(random, 'sk', 40);
    const newPrefix = apiKey.slice(0, 7);
    await tx.insertApiKey(merchantId, hashApiKey(apiKey), newPrefix, new Date(clock.now()));
    await tx.revokeApiKeys(merchantId, prefix, new Date(clock.now()));
    return { apiKey, prefix: newPrefix };
  });
}
