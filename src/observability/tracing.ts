/**
 * The OpenTelemetry adapter for the tracing port (src/ports/tracing.ts; docs/metadata.md,
 * "Traces"). Parents are passed explicitly, so spans nest correctly without an async context.
 * `startOtlpTracing` runs the Node SDK with an OTLP exporter; it is only called when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and otherwise nothing of OpenTelemetry is loaded.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span as OtelSpan,
  type SpanContext,
  type Tracer as OtelTracer,
} from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent, type Span, type SpanAttributes, type SpanOptions, type Tracer } from '../ports/tracing.js';

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;

class OtelSpanHandle implements Span {
  readonly traceparent: string;
  readonly traceId: string;

  constructor(readonly span: OtelSpan) {
    const c = span.spanContext();
    this.traceId = c.traceId;
    this.traceparent = formatTraceparent({ traceId: c.traceId, spanId: c.spanId, flags: c.traceFlags });
  }

  set(attributes: SpanAttributes): void {
    this.span.setAttributes(attributesOf(attributes));
  }

  fail(err: unknown): void {
    if (err instanceof Error) this.span.recordException(err);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }

  end(): void {
    this.span.end();
  }
}

/**
 * Wraps an OpenTelemetry tracer as the core's `Tracer`.
 *
 * @example
 *   const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
 *   const tracer = otelTracer(provider.getTracer('idem'));
 */
export function otelTracer(tracer: OtelTracer): Tracer {
  return {
    enabled: true,
    start(name: string, attributes: SpanAttributes, options: SpanOptions = {}): Span {
      const { parent } = options;
      let context = ROOT_CONTEXT;
      if (parent instanceof OtelSpanHandle) context = trace.setSpan(ROOT_CONTEXT, parent.span);
      else if (parent?.traceparent !== undefined) {
        const remote = spanContextOf(parent.traceparent);
        if (remote) context = trace.setSpanContext(ROOT_CONTEXT, remote);
      }
      const links: Link[] = [];
      for (const tp of options.links ?? []) {
        const c = spanContextOf(tp);
        if (c) links.push({ context: c });
      }
      const span = tracer.startSpan(name, { kind: KINDS[options.kind ?? 'internal'], attributes: attributesOf(attributes), links }, context);
      return new OtelSpanHandle(span);
    },
  };
}

function spanContextOf(traceparent: string): SpanContext | null {
  const p = parseTraceparent(traceparent);
  return p ? { traceId: p.traceId, spanId: p.spanId, traceFlags: p.flags & 1, isRemote: true } : null;
}

function attributesOf(a: SpanAttributes): Attributes {
  const out: Attributes = {};
  for (const k in a) {
    const v = a[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** A running SDK: its tracer, and `shutdown` to flush what is buffered. */
export interface TracingHandle {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK with the OTLP trace exporter the standard environment
 * names (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` — http/protobuf unless
 * told —, `OTEL_EXPORTER_OTLP_HEADERS`, …), no auto-instrumentation: Idem opens its own spans.
 * Loaded on demand, so a process that does not trace never loads the SDK.
 */
export async function startOtlpTracing(serviceName: string, version: string): Promise<TracingHandle> {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  // Traces only: Idem's metrics are Prometheus's (/metrics) and its logs are pino's.
  const sdk = new NodeSDK({ serviceName, instrumentations: [], metricReaders: [], logRecordProcessors: [] });
  sdk.start();
  return {
    tracer: otelTracer(trace.getTracer('idem', version)),
    shutdown: () => sdk.shutdown(),
  };
}
