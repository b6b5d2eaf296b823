// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { splitSuite } from '../../../bench/args.js';
import { parseGrpcWebArgs, variantArgs } from '../../../bench/grpc-web.js';

const spec = { bin: 'h2load', port: 9, bodyPath: '/b', clients: 10, streams: 1, seconds: 3, rpsPerClient: 100, logPath: '/l' };

describe('bench --suite grpc-web', () => {
  it('is picked by --suite grpc-web', () => {
    expect(splitSuite(['--suite', 'grpc-web', '--quick'])).toEqual({ suite: 'grpc-web', rest: ['--quick'] });
  });

  it('defaults to 3 runs of 10 s at 1000 calls/s; --quick to 1 run of 3 s', () => {
    expect(parseGrpcWebArgs([])).toMatchObject({ runs: 3, seconds: 10, rate: 1000, clients: 10, payloadBytes: 16 });
    expect(parseGrpcWebArgs(['--quick'])).toMatchObject({ runs: 1, seconds: 3 });
    expect(() => parseGrpcWebArgs(['--runs', '0'])).toThrow(/--runs: expected an integer 1-15/);
  });

  it('offers the calls in bursts by default, spread out with --arrivals spread', () => {
    expect(parseGrpcWebArgs([])).toMatchObject({ arrivals: 'burst' });
    expect(parseGrpcWebArgs(['--arrivals', 'spread'])).toMatchObject({ arrivals: 'spread' });
    expect(() => parseGrpcWebArgs(['--arrivals', 'poisson'])).toThrow("--arrivals: expected one of burst, spread, got 'poisson'");
  });

  it('sends the same body as gRPC-Web: its content type, no te, --h1 for HTTP/1.1', () => {
    const native = variantArgs('native-h2', spec);
    expect(native).toContain('--header=content-type: application/grpc');
    expect(native).toContain('--header=te: trailers');
    const h2 = variantArgs('grpc-web-h2', spec);
    expect(h2).toContain('--header=content-type: application/grpc-web+proto');
    expect(h2).not.toContain('--header=te: trailers');
    expect(h2).not.toContain('--h1');
    expect(h2.at(-1)).toBe(native.at(-1));
    expect(variantArgs('grpc-web-h1', spec)[0]).toBe('--h1');
  });
});
