// SPDX-License-Identifier: Apache-2.0
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RequestBody } from '../../../src/proxy/request-body.js';

/** A sink that records chunks and reports "full" after `highWaterMark` bytes until drained by hand. */
function sink(highWaterMark = 1 << 20) {
  const chunks: Buffer[] = [];
  let ended = false;
  const w = new Writable({
    highWaterMark,
    write(chunk: Buffer, _e, cb) {
      chunks.push(chunk);
      cb();
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  return { w, chunks, get ended() { return ended; } };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('RequestBody', () => {
  it('relays chunks and the end to the sink', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src);
    const s = sink();
    body.pipeTo(s.w);
    src.write(Buffer.from('ab'));
    src.end(Buffer.from('cd'));
    await flush();
    expect(Buffer.concat(s.chunks).toString()).toBe('abcd');
    expect(s.ended).toBe(true);
    expect(body.bytes).toBe(4);
  });

  it('replays the whole body to a second sink while it fits the buffer', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src, 10);
    const first = sink();
    body.pipeTo(first.w);
    src.end(Buffer.from('12345'));
    await flush();
    body.detach();
    expect(body.replayable).toBe(true);
    const second = sink();
    body.pipeTo(second.w);
    await flush();
    expect(Buffer.concat(second.chunks).toString()).toBe('12345');
    expect(second.ended).toBe(true);
  });

  it('is no longer replayable once the body outgrows the buffer, and refuses a second sink', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src, 4);
    body.pipeTo(sink().w);
    src.write(Buffer.from('123'));
    src.write(Buffer.from('45'));
    await flush();
    expect(body.replayable).toBe(false);
    body.detach();
    expect(() => body.pipeTo(sink().w)).toThrow(/replay buffer/);
  });

  it('commit() drops the buffer', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src);
    body.pipeTo(sink().w);
    src.write(Buffer.from('x'));
    await flush();
    body.commit();
    expect(body.replayable).toBe(false);
  });

  it('pauses the source while the sink is full and resumes on drain (back-pressure)', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src, 0);
    let release: (() => void) | undefined;
    const slow = new Writable({
      highWaterMark: 4,
      write(_c, _e, cb) {
        release = cb;
      },
    });
    body.pipeTo(slow);
    src.write(Buffer.alloc(8));
    await flush();
    expect(src.isPaused()).toBe(true);
    release?.();
    await flush();
    expect(src.isPaused()).toBe(false);
  });

  it('detach(owner) from a stale attempt leaves the current attempt attached', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src);
    const first = sink();
    body.pipeTo(first.w);
    src.write(Buffer.from('a'));
    await flush();
    body.detach(first.w);
    const second = sink();
    body.pipeTo(second.w);
    body.detach(first.w); // the first attempt's stream closes late
    src.end(Buffer.from('b'));
    await flush();
    expect(Buffer.concat(second.chunks).toString()).toBe('ab');
    expect(second.ended).toBe(true);
  });
});
