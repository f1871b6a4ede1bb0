import { pino, type LoggerOptions } from 'pino';
import { urlForLog } from '../api/plugins/cardData.js';
import type { Config } from '../config/config.js';

/**
 * The logger `idem serve` runs with (docs/metadata.md, "Logs"): `LOG_LEVEL` (default info), a
 * line per request with its method, card-free URL and status; readable on a terminal, JSON
 * lines otherwise. The benchmark measures Idem with the same options (docs/performance.md).
 */
export function serveLoggerOptions(config: Pick<Config, 'logLevel'>, terminal: boolean): LoggerOptions {
  return {
    level: config.logLevel,
    ...(terminal ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', singleLine: true } } } : {}),
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: urlForLog(req) }),
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
      err: pino.stdSerializers.err,
    },
  };
}
