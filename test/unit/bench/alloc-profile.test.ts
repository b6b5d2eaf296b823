// SPDX-License-Identifier: Apache-2.0
// bench/alloc-profile.ts: the bytes of a sampling heap profile, in total and per allocation site.

import { describe, expect, it } from 'vitest';
import { frameName, type SamplingNode, summarizeAllocations } from '../../../bench/alloc-profile.js';

const node = (functionName: string, url: string, selfSize: number, children: SamplingNode[] = []): SamplingNode => ({
  callFrame: { functionName, url, lineNumber: 9 },
  selfSize,
  children,
});

describe('summarizeAllocations', () => {
  const profile = node('(root)', '', 0, [
    node('onData', 'file:///work/main/dist/src/h2/connection.js', 10, [
      node('push', 'file:///work/main/dist/src/h2/frame-reader.js', 100, [node('FastBuffer', 'node:internal/buffer', 40)]),
      node('decode', 'file:///work/main/dist/src/h2/hpack/decoder.js', 60),
    ]),
    node('', 'file:///x/node_modules/pino/lib/proto.js', 5),
    node('decode', 'file:///work/main/dist/src/h2/hpack/decoder.js', 60),
  ]);

  it('sums every self size in the tree', () => {
    expect(summarizeAllocations(profile, 10).totalBytes).toBe(10 + 100 + 40 + 60 + 5 + 60);
  });

  it('names sites by the allocating frame and two callers, largest first (ties by name), and keeps only the top ones', () => {
    const { top } = summarizeAllocations(profile, 3);
    expect(top).toEqual([
      { site: 'push dist/src/h2/frame-reader.js:10 < onData dist/src/h2/connection.js:10 < (root) :10', bytes: 100 },
      { site: 'decode dist/src/h2/hpack/decoder.js:10 < (root) :10', bytes: 60 },
      { site: 'decode dist/src/h2/hpack/decoder.js:10 < onData dist/src/h2/connection.js:10 < (root) :10', bytes: 60 },
    ]);
  });

  it('keeps only the two callers nearest the allocating frame', () => {
    const { top } = summarizeAllocations(profile, 10);
    expect(top.find((s) => s.bytes === 40)?.site).toBe('FastBuffer node:internal/buffer:10 < push dist/src/h2/frame-reader.js:10 < onData dist/src/h2/connection.js:10');
  });

  it('walks a deep tree without recursion', () => {
    let deep = node('leaf', 'a.js', 1);
    for (let i = 0; i < 50_000; i++) deep = node(`f${i}`, 'a.js', 0, [deep]);
    expect(summarizeAllocations(deep, 1).totalBytes).toBe(1);
  });
});

describe('frameName', () => {
  it('shortens paths to start at dist/ or node_modules/ and names anonymous functions', () => {
    expect(frameName({ functionName: '', url: 'file:///x/node_modules/pino/lib/proto.js', lineNumber: 0 })).toBe('(anonymous) node_modules/pino/lib/proto.js:1');
    expect(frameName({ functionName: 'emit', url: 'node:events', lineNumber: 470 })).toBe('emit node:events:471');
  });
});
