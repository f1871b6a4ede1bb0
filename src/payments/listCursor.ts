/** The opaque cursor of `GET /v1/payments` (docs/payments.md): the last row's creation time and id. */
import { IdemError } from '../errors/registry.js';
import type { PaymentView } from './view.js';

export function encodeCursor(p: PaymentView): string {
  return Buffer.from(JSON.stringify([p.created_at, p.id])).toString('base64url');
}

function isCursorTime(text: string): boolean {
  return /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(text) && new Date(text).toISOString() === text;
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    // Only what encodeCursor writes: anything else (a date JavaScript parses but PostgreSQL
    // does not, a NUL in the id) would fail in the query as a 500.
    if (typeof createdAt === 'string' && typeof id === 'string' && isCursorTime(createdAt) && /^pay_[0-9a-z]{1,64}$/.test(id)) return { createdAt, id };
  } catch {
    // fall through
  }
  throw new IdemError('VALIDATION_FAILED', 'cursor is not one this API returned');
}
