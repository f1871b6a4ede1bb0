import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { containsCardNumber } from '../payments/cardData.js';
import { newRequestId, requestIdOf } from './requestContext.js';

const raw = (headers: Record<string, string | string[]>) => ({ headers }) as unknown as IncomingMessage;

describe('Request-Id', () => {
  it("keeps a client's id that is 1–128 visible ASCII characters, and replaces any other", () => {
    expect(requestIdOf(raw({ 'request-id': 'ticket-42/retry:1' }))).toBe('ticket-42/retry:1');
    expect(requestIdOf(raw({ 'request-id': 'x'.repeat(128) }))).toBe('x'.repeat(128));
    for (const bad of ['', 'has space', 'x'.repeat(129), 'tab\there', 'é']) expect(requestIdOf(raw({ 'request-id': bad })), JSON.stringify(bad)).toMatch(/^req_[0-9a-z]{24}$/);
    expect(requestIdOf(raw({ 'request-id': ['a', 'b'] }))).toMatch(/^req_/);
    expect(requestIdOf(raw({}))).toMatch(/^req_[0-9a-z]{24}$/);
  });

  it('makes ids that do not repeat', () => {
    const ids = new Set(Array.from({ length: 10_000 }, newRequestId));
    expect(ids.size).toBe(10_000);
  });

  it('never makes a run of digits a card-number scan could take for a PAN (its counter is letters)', () => {
    for (const id of Array.from({ length: 10_000 }, newRequestId)) {
      expect(id).toMatch(/^req_[0-9a-z]{14}[a-z]{10}$/);
      expect(containsCardNumber(id), id).toBe(false);
    }
  });
});
