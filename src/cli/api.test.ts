import { describe, expect, it } from 'vitest';
import { frames, parseFrame } from './api.js';

describe('reading Server-Sent Events', () => {
  it('reads id, data and retry; joins data lines; drops comments', () => {
    expect(parseFrame('id: evt_1\nevent: payment.created\ndata: {"a":\ndata: 1}')).toEqual({ id: 'evt_1', data: '{"a":\n1}' });
    expect(parseFrame(': heartbeat')).toEqual({});
    expect(parseFrame('retry: 1000')).toEqual({ retry: 1000 });
  });

  it('splits frames that arrive cut anywhere, with \\n or \\r\\n', async () => {
    const text = 'retry: 1000\n\nid: evt_1\ndata: {"x":1}\n\n: heartbeat\r\n\r\nid: evt_2\r\ndata: {"x":2}\r\n\r\n';
    for (const size of [1, 3, 7, text.length]) {
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < bytes.length; i += size) c.enqueue(bytes.slice(i, i + size));
          c.close();
        },
      });
      const got = [];
      for await (const f of frames(body)) got.push(f);
      expect(got, `chunks of ${size}`).toEqual([{ retry: 1000 }, { id: 'evt_1', data: '{"x":1}' }, {}, { id: 'evt_2', data: '{"x":2}' }]);
    }
  });
});
