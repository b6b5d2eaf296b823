// SPDX-License-Identifier: Apache-2.0
// bench/args.ts: which paths and scenarios a bench invocation measures, and the flags' validation.

import { describe, expect, it } from 'vitest';
import { parseBenchArgs, type BenchOptions } from '../../../bench/args.js';

function parse(argv: string[]): BenchOptions {
  const options = parseBenchArgs(argv);
  if (options === 'help') throw new Error('unexpected help');
  return options;
}

describe('parseBenchArgs', () => {
  it('measures direct, node-floor, h2-floor, meshlet and nginx in all five scenarios by default', () => {
    const o = parse([]);
    expect(o.paths).toEqual(['direct', 'node-floor', 'h2-floor', 'meshlet', 'nginx']);
    expect(o.scenarios).toEqual(['unary-low', 'unary-rate', 'unary-spread', 'unary-peak', 'large-peak']);
    expect(o.runs).toBe(3);
  });

  it('runs fresh processes with heap probes and 1000/s as the low rate unless told otherwise', () => {
    expect(parse([])).toMatchObject({ shareProcess: false, heapProbe: true, lowRate: 1000, rate: 4000 });
    expect(parse(['--shared-process', '--no-heap', '--low-rate', '500'])).toMatchObject({ shareProcess: true, heapProbe: false, lowRate: 500 });
    expect(() => parse(['--low-rate', '5', '--clients', '10'])).toThrow(/--low-rate must be at least --clients/);
  });

  it('adds meshlet+log with --log and meshlet-b with --meshlet-b, keeping the turn order', () => {
    expect(parse(['--log', '--meshlet-b', '/tmp/b/main.js']).paths).toEqual([
      'direct',
      'node-floor',
      'h2-floor',
      'meshlet',
      'meshlet+log',
      'meshlet-b',
      'nginx',
    ]);
    expect(parse(['--meshlet-b-node-arg=--single-threaded-gc']).meshletBNodeArgs).toEqual(['--single-threaded-gc']);
  });

  it('accepts the new path names in --only, in any order', () => {
    expect(parse(['--only', 'nginx,meshlet+log,node-floor']).paths).toEqual(['node-floor', 'meshlet+log', 'nginx']);
    expect(parse(['--only', 'nginx,h2-floor,direct,node-floor']).paths).toEqual(['direct', 'node-floor', 'h2-floor', 'nginx']);
  });

  it('rejects unknown names and a meshlet-b with nothing that makes it a B', () => {
    expect(() => parse(['--only', 'envoy'])).toThrow(/unknown name 'envoy'/);
    expect(() => parse(['--only', 'meshlet,meshlet-b'])).toThrow(/--meshlet-b FILE/);
    expect(() => parse(['--scenarios', 'soak'])).toThrow(/unknown name 'soak'/);
  });

  it('selects scenarios, and --no-large drops large-peak', () => {
    expect(parse(['--scenarios', 'large-peak,unary-rate']).scenarios).toEqual(['unary-rate', 'large-peak']);
    expect(parse(['--no-large']).scenarios).toEqual(['unary-low', 'unary-rate', 'unary-spread', 'unary-peak']);
    expect(() => parse(['--scenarios', 'large-peak', '--no-large'])).toThrow(/no scenario/);
  });

  it('shortens everything with --quick and validates numbers', () => {
    const q = parse(['--quick']);
    expect([q.runs, q.rateSeconds, q.peakSeconds, q.largeSeconds]).toEqual([1, 3, 3, 2]);
    expect(() => parse(['--runs', '0'])).toThrow(/--runs/);
    expect(() => parse(['--rate', '5', '--clients', '10'])).toThrow(/--rate must be at least --clients/);
  });

  it("keeps node's default connection window for the app unless --app-window names one (node-http2 only)", () => {
    expect(parse([]).appWindowBytes).toBeUndefined();
    expect(parse(['--app-window', '16777216']).appWindowBytes).toBe(16_777_216);
    expect(() => parse(['--app-window', '0'])).toThrow(/--app-window/);
    expect(() => parse(['--app-window', '16777216', '--app', 'grpc-js'])).toThrow(/node-http2 app only/);
  });

  it("keeps the app's 1000 streams per connection unless --app-max-streams names a limit (node-http2 only)", () => {
    expect(parse([]).appMaxStreams).toBeUndefined();
    expect(parse(['--app-max-streams', '25']).appMaxStreams).toBe(25);
    expect(() => parse(['--app-max-streams', '0'])).toThrow(/--app-max-streams/);
    expect(() => parse(['--app-max-streams', '25', '--app', 'grpc-js'])).toThrow(/--app-max-streams applies to the node-http2 app only/);
  });

  it('returns help for --help', () => {
    expect(parseBenchArgs(['--help'])).toBe('help');
  });
});
