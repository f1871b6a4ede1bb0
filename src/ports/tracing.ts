/**
 * The tracing port (docs/metadata.md, "Traces"). The core opens spans through it and never
 * imports OpenTelemetry; the adapter lives in src/observability/tracing.ts. Parents are passed
 * explicitly (no async context), so `noopTracer`, used when tracing is off, costs a property
 * read: it opens nothing and hands back the parent, which keeps a client's `traceparent`
 * travelling to the gateway even then.
 */

/** Span attributes; undefined values are dropped. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean | undefined>>;

/** A span as the core sees it. */
export interface Span {
  /** W3C `traceparent` naming this span (`00-<trace id>-<span id>-<flags>`); undefined when nothing is traced. */
  readonly traceparent: string | undefined;
  /** 32 lowercase hex digits; undefined when nothing is traced. */
  readonly traceId: string | undefined;
  set(attributes: SpanAttributes): void;
  /** Records the error on the span and marks it failed. */
  fail(err: unknown): void;
  end(): void;
}

export interface SpanOptions {
  /** The span this one is part of; absent: the root of a new trace. */
  parent?: Span | undefined;
  /** `traceparent`s of spans in other traces this one continues (the request a recovery finishes). */
  links?: readonly string[] | undefined;
  /** `server` for a request, `client` for a call out (a gateway); `internal` by default. */
  kind?: 'server' | 'client' | 'internal';
}

export interface Tracer {
  /** False for `noopTracer`: callers may skip building attributes. */
  readonly enabled: boolean;
  start(name: string, attributes: SpanAttributes, options?: SpanOptions): Span;
}

/** A span that records nothing and names no trace. */
export const NO_SPAN: Span = Object.freeze({
  traceparent: undefined,
  traceId: undefined,
  set() {},
  fail() {},
  end() {},
});

/** Tracing off: no span is opened; a child "is" its parent, so a remote parent's `traceparent` still propagates. */
export const noopTracer: Tracer = Object.freeze({
  enabled: false,
  start: (_name: string, _attributes: SpanAttributes, options?: SpanOptions) => options?.parent ?? NO_SPAN,
});

/** The parts of a W3C `traceparent` header (version 00). */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The trace-flags byte; bit 0 is "sampled". */
  flags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a `traceparent` header as W3C Trace Context says a receiver must: version `ff`, an
 * all-zero trace or span id, or a version-00 header with anything after the flags is invalid.
 *
 * @example parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')?.traceId === '4bf92f3577b34da6a3ce929d0e0e4736'
 */
export function parseTraceparent(header: string | undefined): TraceParent | null {
  if (header === undefined || header.length > 512) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return null;
  return { traceId: traceId!, spanId: spanId!, flags: parseInt(flags!, 16) };
}

/** Formats a version-00 `traceparent`. */
export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * A span standing for a parent in another process (the client that sent `traceparent`): it
 * records nothing and names that parent, so children continue its trace.
 */
export function remoteSpan(header: string | undefined): Span | undefined {
  const p = parseTraceparent(header);
  if (!p) return undefined;
  const traceparent = formatTraceparent({ ...p, flags: p.flags & 0xff });
  return { traceparent, traceId: p.traceId, set() {}, fail() {}, end() {} };
}

/**
 * Runs `fn` inside a span that ends when it settles (failed if it throws).
 *
 * @example
 *   const outcome = await inSpan(tracer, 'gateway authorize', { gateway: 'sim-a' }, { parent, kind: 'client' }, (span) => call(span.traceparent));
 */
export async function inSpan<T>(tracer: Tracer, name: string, attributes: SpanAttributes, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const span = tracer.start(name, attributes, options);
  try {
    return await fn(span);
  } catch (err) {
    span.fail(err);
    throw err;
  } finally {
    span.end();
  }
}
