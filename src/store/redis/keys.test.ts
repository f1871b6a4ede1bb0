import { describe, expect, it } from 'vitest';
import { doneChannel, hashSlot, lockKey, replayKey } from './keys.js';

describe('Redis names of an idempotency key', () => {
  it('hash to the slots Redis Cluster computes (CLUSTER KEYSLOT; 12739 is the CRC16 check value of "123456789")', () => {
    const known: Array<[string, number]> = [
      ['123456789', 12739],
      ['foo', 12182],
      ['{user1000}.following', 3443],
      ['a{}b', 13694],
      ['a{b}c', 3300],
      ['héllo', 11061],
      ['x}y{z}', 8157],
      ['idem:{mer_1:order-42}:lock', 2668],
    ];
    for (const [name, slot] of known) expect(hashSlot(name), name).toBe(slot);
  });

  it('put the lock, the replay entry and the notice channel of one key in one slot, whatever the key holds', () => {
    for (const key of ['order-42', 'a:b:c', '{braces}', 'x}y', '}', '{', 'tail{', ' ~!@#$%^&*()']) {
      const slot = hashSlot(lockKey('mer_1', key));
      expect(hashSlot(replayKey('mer_1', key)), key).toBe(slot);
      expect(hashSlot(doneChannel('mer_1', key)), key).toBe(slot);
    }
  });

  it('spread different keys over the slots, and never give two keys one name', () => {
    const slots = new Set(Array.from({ length: 1000 }, (_v, i) => hashSlot(lockKey('mer_1', `order-${i}`))));
    expect(slots.size).toBeGreaterThan(950);
    expect(lockKey('mer_1', 'a}:lock')).not.toBe(lockKey('mer_1', 'a'));
    expect(replayKey('mer_1', 'a')).not.toBe(lockKey('mer_1', 'a'));
  });
});
