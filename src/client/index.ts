/**
 * `idem/client` — Idem's API from Node ≥ 20 or a browser bundle, with no dependency on the
 * server (docs/client.md; `npm run lint` enforces it).
 */
export { IdemClient, IN_FLIGHT_STATUSES, type ApiCall, type IdemClientOptions } from './client.js';
export { IdemApiError, IdemClientError, IdemConnectionError, IdemStillProcessingError, errorStatuses, isIdemError, type IdemErrorCode, type Problem } from './errors.js';
export { uuidv7 } from './keys.js';
export { backoffMs, retryAfterMs, verdictOf, type RetryOptions } from './retry.js';
export type { EventStream } from './sse.js';
export type { AttemptReport, CallMeta, CallOptions, CallResult, ClientHooks } from './transport.js';
export type * from './types.js';
export { signWebhook, verifyWebhook, WebhookVerificationError, type VerifyOptions } from './webhooks.js';
