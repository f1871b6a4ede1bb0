/** A configuration problem, reported at start as one line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /**
   * A stable code for problems a deployment script may want to tell apart (README,
   * "Configuration"): `REDIS_URL_INVALID`, `REDIS_CLUSTER_NODE_INVALID`, `GATEWAY_CREDENTIALS`. Absent for the others.
   */
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** Hides a password in a connection string before it goes into a message. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
