// SPDX-License-Identifier: Apache-2.0
// Message counting over passing DATA: 5-byte prefixes across chunk boundaries, no buffering, and attaching
// without starting the stream early (a lost chunk would corrupt the relayed call).

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { countMessages, MessageCounter, requestSource } from '../../../src/proxy/message-counter.js';
import { RequestBody } from '../../../src/proxy/request-body.js';

function msg(len: number, fill = 7): Buffer {
  const b = Buffer.alloc(5 + len, fill);
  b[0] = 0;
  b.writeUInt32BE(len, 1);
  return b;
}

function feed(chunks: Buffer[]): { counter: MessageCounter; sink: { msgReceived: number; msgSent: number } } {
  const sink = { msgReceived: 0, msgSent: 0 };
  const counter = new MessageCounter(sink, true);
  for (const c of chunks) counter.push(c);
  return { counter, sink };
}

describe('MessageCounter', () => {
  it('counts several messages in one chunk, including empty ones', () => {
    expect(feed([Buffer.concat([msg(3), msg(0), msg(10)])]).sink.msgReceived).toBe(3);
  });

  it('counts messages whose prefix and body are split across chunks at every possible byte', () => {
    const stream = Buffer.concat([msg(300), msg(0), msg(1), msg(70_000)]);
    for (let cut = 1; cut < stream.length; cut += 97) {
      expect(feed([stream.subarray(0, cut), stream.subarray(cut)]).sink.msgReceived, `cut at ${cut}`).toBe(4);
    }
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(feed(bytes.slice(0, 400)).sink.msgReceived).toBe(3); // one byte at a time, up to the big message
  });

  it('does not count a message cut off mid-body or mid-prefix', () => {
    expect(feed([msg(10).subarray(0, 12)]).sink.msgReceived).toBe(0);
    expect(feed([Buffer.concat([msg(1), msg(5).subarray(0, 3)])]).sink.msgReceived).toBe(1);
  });

  it('reads lengths as unsigned 32-bit big-endian', () => {
    const big = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
    const c = feed([big]);
    expect(c.sink.msgReceived).toBe(0);
    expect((c.counter as unknown as { bodyLeft: number }).bodyLeft).toBe(0xffffffff);
  });

  it('counts into msgSent for the response direction', () => {
    const sink = { msgReceived: 0, msgSent: 0 };
    new MessageCounter(sink, false).push(Buffer.concat([msg(1), msg(2)]));
    expect(sink).toEqual({ msgReceived: 0, msgSent: 2 });
  });
});

describe('countMessages', () => {
  it('waits for the consumer: the stream does not start flowing and the consumer gets every byte', async () => {
    const stream = new PassThrough();
    const sink = { msgReceived: 0, msgSent: 0 };
    countMessages(stream, sink, false);
    stream.write(msg(4));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.readableFlowing).toBeNull(); // not flowing yet: nothing was emitted to nobody
    const received: Buffer[] = [];
    stream.on('data', (c: Buffer) => received.push(c));
    stream.end(msg(2));
    await new Promise((resolve) => stream.once('end', resolve));
    expect(Buffer.concat(received)).toEqual(Buffer.concat([msg(4), msg(2)]));
    expect(sink.msgSent).toBe(2);
  });

  it('starts at once when the stream already has a consumer', async () => {
    const stream = new PassThrough();
    stream.on('data', () => {});
    const sink = { msgReceived: 0, msgSent: 0 };
    countMessages(stream, sink, true);
    stream.end(msg(1));
    await new Promise((resolve) => stream.once('end', resolve));
    expect(sink.msgReceived).toBe(1);
  });

  it('finds the downstream stream under a RequestBody', () => {
    const source = new PassThrough();
    expect(requestSource(new RequestBody(source))).toBe(source);
  });
});
