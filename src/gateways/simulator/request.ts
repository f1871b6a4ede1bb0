/**
 * An operation request as the simulated processor sees it once a transport has parsed it: its
 * shape, its validation, and what makes two requests under one idempotency key "the same".
 */
import { GATEWAY_OPERATIONS, type GatewayOperation } from '../port.js';

/** One operation request, as the processor sees it once the transport has parsed it. */
export interface SimulatorRequest {
  operation: GatewayOperation;
  /** The processor's own idempotency key (Idem's gateway key). */
  idempotencyKey: string;
  /** Minor units (cents). For `void` the amount is part of the request's identity only. */
  amount: number;
  /** ISO 4217, upper case, e.g. `EUR`. */
  currency: string;
  /** The caller's reference (Idem's payment id). */
  reference: string;
  /** Required for capture / void / refund. */
  authorizationId?: string | null;
  /** Card token for authorize; `tok_decline_<code>` always declines with `<code>`. */
  token?: string | null;
  /** The merchant the caller acts for (Idem's `Idem-Merchant-Id`), logged with the entry; not part of the request's identity. */
  merchantId?: string | null;
}

/** A valid request without its key, absent fields as null: what the processor stores per key. */
export interface OperationRequest {
  operation: GatewayOperation;
  amount: number;
  currency: string;
  reference: string;
  authorizationId: string | null;
  token: string | null;
  merchantId: string | null;
}

const CURRENCY = /^[A-Z]{3}$/;

/** Why `r` cannot be executed, or undefined when it can. */
export function invalidRequest(r: SimulatorRequest): string | undefined {
  if (!(GATEWAY_OPERATIONS as readonly string[]).includes(r.operation)) return `unknown operation ${String(r.operation)}`;
  if (typeof r.idempotencyKey !== 'string' || r.idempotencyKey.length === 0) return 'Idempotency-Key is required';
  const minimum = r.operation === 'void' ? 0 : 1;
  if (!Number.isSafeInteger(r.amount) || r.amount < minimum) return `amount must be an integer >= ${minimum}`;
  if (typeof r.currency !== 'string' || !CURRENCY.test(r.currency)) return 'currency must be ISO 4217 upper case';
  if (typeof r.reference !== 'string' || r.reference.length === 0) return 'reference is required';
  if (r.operation !== 'authorize' && (typeof r.authorizationId !== 'string' || r.authorizationId.length === 0)) {
    return `authorization_id is required for ${r.operation}`;
  }
  if (r.operation === 'authorize' && (typeof r.token !== 'string' || r.token.length === 0)) return 'token is required for authorize';
  return undefined;
}

/** The stored form of a valid request. */
export function operationRequest(r: SimulatorRequest): OperationRequest {
  return {
    operation: r.operation,
    amount: r.amount,
    currency: r.currency,
    reference: r.reference,
    authorizationId: r.authorizationId ?? null,
    token: r.token ?? null,
    merchantId: r.merchantId ?? null,
  };
}

/** Same key, same request: a re-send, answered from the record. Anything else reuses the key. */
export function sameRequest(a: OperationRequest, b: OperationRequest): boolean {
  return (
    a.operation === b.operation &&
    a.amount === b.amount &&
    a.currency === b.currency &&
    a.reference === b.reference &&
    a.authorizationId === b.authorizationId &&
    a.token === b.token
  );
}
