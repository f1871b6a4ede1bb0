import type { GatewayOperation } from '../gateways/port.js';
import type { AttemptStatus, PaymentStatus } from './states.js';

/** A payment as the API shows it. */
export interface PaymentView {
  id: string;
  object: 'payment';
  amount: number;
  currency: string;
  capture_method: 'automatic' | 'manual';
  status: PaymentStatus;
  payment_method: { type: 'card'; token: string };
  reference: string | null;
  metadata: Record<string, string>;
  gateway: string | null;
  amount_authorized: number;
  amount_captured: number;
  amount_refunded: number;
  amount_voided: number;
  decline_code: string | null;
  idempotency_key: string;
  attempts: AttemptView[];
  created_at: string;
  updated_at: string;
}

export interface AttemptView {
  id: string;
  operation: GatewayOperation;
  attempt_no: number;
  gateway: string;
  gateway_key: string;
  amount: number;
  status: AttemptStatus;
  decline_code: string | null;
  created_at: string;
  completed_at: string | null;
}
