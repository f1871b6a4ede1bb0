/**
 * Redis names of one idempotency key's fast-path state. All three carry the hash tag
 * `{<merchant>:<key>}`, so on a Redis Cluster the lock, the replay entry and the notice channel
 * of one (merchant, key) live in one slot, on one shard: the unlock script and the pipeline that
 * caches and unlocks touch one slot, and a shard that dies takes exactly those keys' fast path
 * with it. On a single server the names are the same (Redis holds only caches and locks, so
 * renaming them needed no migration).
 *
 * A key containing `}` ends the tag early; the tag is then still the same prefix for all three
 * names (they differ only after it), so they still share a slot.
 *
 *   idem:{mer_1:order-42}:lock     SET NX PX, released by a compare-and-delete script
 *   idem:{mer_1:order-42}:replay   the stored response, for the key's remaining retention
 *   idem:{mer_1:order-42}:done     sharded pub/sub channel (cluster): the key changed
 */
export function lockKey(merchantId: string, key: string): string {
  return `idem:{${merchantId}:${key}}:lock`;
}

export function replayKey(merchantId: string, key: string): string {
  return `idem:{${merchantId}:${key}}:replay`;
}

export function doneChannel(merchantId: string, key: string): string {
  return `idem:{${merchantId}:${key}}:done`;
}

/** The Redis Cluster slot (0..16383) of a key or shard channel: CRC16 of its hash tag, mod 16384. */
export function hashSlot(name: string): number {
  const bytes = Buffer.from(name, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // {
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC16[((crc >> 8) ^ bytes[i]!) & 0xff]!) & 0xffff;
  return crc & 16383;
}

/** CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with. */
const CRC16 = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    table[i] = c;
  }
  return table;
})();
