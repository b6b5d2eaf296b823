// SPDX-License-Identifier: Apache-2.0
// bench/args.ts splitSuite and bench/mtls-args.ts: which suite a command line runs, and the mTLS suite's flags.

import { describe, expect, it } from 'vitest';
import { parseBenchArgs, splitSuite } from '../../../bench/args.js';
import { type MtlsOptions, parseMtlsArgs } from '../../../bench/mtls-args.js';
import { plannedMtlsSeconds } from '../../../bench/mtls.js';

function parse(argv: string[]): MtlsOptions {
  const options = parseMtlsArgs(argv);
  if (options === 'help') throw new Error('unexpected help');
  return options;
}

describe('splitSuite', () => {
  it('runs the default suite without --suite, leaving every flag to its parser', () => {
    expect(splitSuite(['--quick', '--only', 'meshlet'])).toEqual({ suite: 'proxy', rest: ['--quick', '--only', 'meshlet'] });
    expect(parseBenchArgs(splitSuite([]).rest)).toMatchObject({ paths: ['direct', 'node-floor', 'h2-floor', 'meshlet', 'nginx'] });
  });

  it('takes --suite NAME and --suite=NAME out, wherever they are', () => {
    expect(splitSuite(['--runs', '3', '--suite', 'mtls', '--keep'])).toEqual({ suite: 'mtls', rest: ['--runs', '3', '--keep'] });
    expect(splitSuite(['--suite=mtls'])).toEqual({ suite: 'mtls', rest: [] });
  });

  it('rejects an unknown or missing suite name', () => {
    expect(() => splitSuite(['--suite', 'tls'])).toThrow(/unknown name 'tls'/);
    expect(() => splitSuite(['--suite'])).toThrow(/needs a name/);
  });
});

describe('parseMtlsArgs', () => {
  it('runs both scenarios, both handshake servers and all four two-sidecar paths by default, 3 runs at 1000 calls/s', () => {
    const o = parse([]);
    expect(o.scenarios).toEqual(['handshake', 'chain']);
    expect(o.servers).toEqual(['meshlet', 'nginx']);
    expect(o.paths).toEqual(['direct', 'meshlet-x2', 'meshlet-x2-mtls', 'nginx-x2-mtls']);
    expect([o.runs, o.rate, o.clients, o.streams, o.handshakeSeconds, o.chainSeconds, o.chainWarmupSeconds]).toEqual([3, 1000, 10, 10, 8, 10, 20]);
    expect([o.handshakeConcurrency, o.handshakeProcs]).toEqual([8, 1]);
  });

  it('measures both arrival patterns by default, and one or both with --arrivals', () => {
    expect(parse([]).arrivals).toEqual(['burst', 'spread']);
    expect(parse(['--arrivals', 'spread']).arrivals).toEqual(['spread']);
    expect(parse(['--arrivals', 'spread,burst']).arrivals).toEqual(['burst', 'spread']);
    expect(() => parse(['--arrivals', 'poisson'])).toThrow(/--arrivals: unknown name 'poisson' \(burst, spread\)/);
    expect(plannedMtlsSeconds({ ...parse(['--scenarios', 'chain']), arrivals: ['burst'] })).toBe(4 * (20 + 3 * 10));
    expect(plannedMtlsSeconds(parse(['--scenarios', 'chain']))).toBe(4 * (20 + 3 * 2 * 10));
  });

  it('passes --meshlet-node-arg flags, in order, to every meshlet sidecar', () => {
    expect(parse([]).meshletNodeArgs).toEqual([]);
    expect(parse(['--meshlet-node-arg=--max-semi-space-size=16', '--meshlet-node-arg=--single-threaded-gc']).meshletNodeArgs).toEqual([
      '--max-semi-space-size=16',
      '--single-threaded-gc',
    ]);
  });

  it('splits --only between the scenarios and drops a scenario left with nothing to measure', () => {
    const handshakeOnly = parse(['--only', 'nginx,meshlet']);
    expect(handshakeOnly.servers).toEqual(['meshlet', 'nginx']);
    expect(handshakeOnly.scenarios).toEqual(['handshake']);
    const mixed = parse(['--only', 'meshlet-x2-mtls,direct,meshlet']);
    expect(mixed.servers).toEqual(['meshlet']);
    expect(mixed.paths).toEqual(['direct', 'meshlet-x2-mtls']);
    expect(mixed.scenarios).toEqual(['handshake', 'chain']);
    expect(() => parse(['--scenarios', 'chain', '--only', 'nginx'])).toThrow(/left no scenario/);
  });

  it('rejects unknown names and bad numbers', () => {
    expect(() => parse(['--only', 'envoy'])).toThrow(/unknown name 'envoy'/);
    expect(() => parse(['--scenarios', 'soak'])).toThrow(/unknown name 'soak'/);
    expect(() => parse(['--concurrency', '0'])).toThrow(/--concurrency/);
    expect(() => parse(['--chain-warmup', '0'])).toThrow(/--chain-warmup must be an integer from 1 to 600/);
    expect(() => parse(['--rate', '5'])).toThrow(/--rate must be at least --clients/);
    expect(() => parse(['--paths', 'direct'])).toThrow();
  });

  it('shortens everything with --quick and returns help for --help', () => {
    const q = parse(['--quick']);
    expect([q.runs, q.handshakeSeconds, q.chainSeconds, q.warmupSeconds, q.chainWarmupSeconds]).toEqual([1, 3, 3, 1, 1]);
    expect(parseMtlsArgs(['--help'])).toBe('help');
  });
});
