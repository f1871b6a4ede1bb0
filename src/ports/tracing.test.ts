import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTraceparent, inSpan, NO_SPAN, noopTracer, parseTraceparent, remoteSpan } from './tracing.js';

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));

describe('traceparent', () => {
  it('parses what it formats, for every non-zero trace and span id and every flags byte', () => {
    fc.assert(
      fc.property(hex(32).filter((s) => /[1-9a-f]/.test(s)), hex(16).filter((s) => /[1-9a-f]/.test(s)), fc.integer({ min: 0, max: 255 }), (traceId, spanId, flags) => {
        expect(parseTraceparent(formatTraceparent({ traceId, spanId, flags }))).toEqual({ traceId, spanId, flags });
      }),
    );
  });

  it('refuses what W3C Trace Context says a receiver must ignore', () => {
    const ok = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(parseTraceparent(ok)).not.toBeNull();
    for (const bad of [
      undefined,
      '',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero span id
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      `${ok}-extra`, // version 00 with more fields
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // short trace id
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeNull();
    }
    // A later version may add fields; the first four are still read.
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more')?.spanId).toBe('00f067aa0ba902b7');
  });
});

describe('noopTracer', () => {
  it('opens nothing: a child is its parent, so a remote parent still names the trace', async () => {
    expect(noopTracer.start('x', {})).toBe(NO_SPAN);
    const remote = remoteSpan('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')!;
    expect(noopTracer.start('x', {}, { parent: remote })).toBe(remote);
    expect(await inSpan(noopTracer, 'y', {}, { parent: remote }, async (s) => s.traceparent)).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(remote.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(remoteSpan('nonsense')).toBeUndefined();
  });
});
