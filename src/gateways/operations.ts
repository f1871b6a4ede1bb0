/** Every operation a gateway executes, listed once: types, routes and schemas derive from it. */
export const GATEWAY_OPERATIONS = ['authorize', 'capture', 'void', 'refund'] as const;

/** One of {@link GATEWAY_OPERATIONS}; re-exported by the connector port (./port.ts). */
export type GatewayOperation = (typeof GATEWAY_OPERATIONS)[number];
