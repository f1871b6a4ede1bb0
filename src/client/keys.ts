/**
 * Idempotency keys minted at the origin (docs/idempotency.md): one UUIDv7 per intent (RFC 9562
 * §5.7) — 48 bits of Unix milliseconds, then 74 random bits — so keys sort by creation time
 * and never collide in practice.
 */

/** `random()` in [0, 1); the client's injected source (crypto-strong unless a test seeds it). */
export function uuidv7(nowMs: number, random: () => number): string {
  const b = new Uint8Array(16);
  let ms = Math.max(0, Math.floor(nowMs));
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  for (let i = 6; i < 16; i++) b[i] = Math.floor(random() * 256) & 0xff;
  b[6] = (b[6]! & 0x0f) | 0x70; // version 7
  b[8] = (b[8]! & 0x3f) | 0x80; // variant 10
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A uniform float in [0, 1) from WebCrypto (Node ≥ 20 and browsers). */
export function cryptoFloat(): number {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return (words[0]! * 2 ** 21 + (words[1]! >>> 11)) / 2 ** 53;
}
