import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './registry.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map(
  [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const),
);

describe('error code registry', () => {
  it('documents every code with its status', () => {
    for (const [code, { status }] of Object.entries(errorCodes)) {
      expect(documented.get(code), `${code} in docs/errors.md`).toBe(status);
    }
  });

  it('documents no code the registry lacks', () => {
    for (const code of documented.keys()) expect(Object.keys(errorCodes)).toContain(code);
  });

  it('carries every code of docs/errors.md with its status', () => {
    const spec: Record<string, number> = {
      AUTH_REQUIRED: 401, VALIDATION_FAILED: 400, CARD_DATA_REFUSED: 400, IDEM_KEY_MISSING: 400, IDEM_KEY_INVALID: 400,
      PAYMENT_DECLINED: 402, PAYMENT_NOT_FOUND: 404, IDEM_IN_PROGRESS: 409, PAYMENT_INVALID_STATE: 409,
      IDEM_KEY_REUSED: 422, AMOUNT_EXCEEDS_AVAILABLE: 422, RATE_LIMITED: 429, INTERNAL: 500, UNAVAILABLE: 503,
    };
    for (const [code, status] of Object.entries(spec)) expect(errorCodes[code as keyof typeof errorCodes]?.status).toBe(status);
  });
});
