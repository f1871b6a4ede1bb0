/** What a call reports besides its answer (docs/client.md, "What a call returns"). */

/** What one call did: enough to log it, correlate it with Idem's logs, and send it again. */
export interface CallMeta {
  method: string;
  path: string;
  /** The key every attempt carried (POSTs), or null (GET, DELETE). */
  idempotencyKey: string | null;
  /** Requests sent, the first included. */
  attempts: number;
  /** The last answer's status; null when no answer came. */
  status: number | null;
  /** The last answer's `Request-Id` (docs/metadata.md). */
  requestId: string | null;
  /** `Idempotent-Replayed: true`: the answer is the one stored for the key, sent again. */
  replayed: boolean;
  /** The last answer's body exactly as received ('' when none). */
  rawBody: string;
}
