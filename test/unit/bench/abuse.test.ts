// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- --suite abuse`: suite selection, flags with their defaults, the abuser's report line, the frames
// the flood sends, and the report's verdicts.
import { describe, expect, it } from 'vitest';
import { requestHeaders } from '../../../bench/abuse-client.js';
import { parseAbuseArgs } from '../../../bench/abuse-args.js';
import { type AbuseSample, formatAbuseReport, parseAbuserReport } from '../../../bench/abuse.js';
import { splitSuite } from '../../../bench/args.js';
import { FrameReader } from '../../../src/h2/frame-reader.js';
import { Flags, FrameType } from '../../../src/h2/frame.js';
import { HpackDecoder } from '../../../src/h2/hpack/decoder.js';

const load = (p99Us: number, failed = 0) => ({ reqPerSec: 200, done: 1600, succeeded: 1600 - failed, failed, errored: 0, timeout: 0, p50Us: 1000, p99Us });
const sample = (mode: AbuseSample['mode'], run: number, p99Us: number, failed = 0): AbuseSample => ({
  mode,
  run,
  load: load(p99Us, failed),
  cpuPercent: 20,
  peakRssMiB: 100,
  abuser: mode === 'quiet' ? undefined : { connections: 1, resets: 0, goaways: 0, streams: 1 },
});

describe('--suite abuse', () => {
  it('is a suite name; defaults to every mode, 3 runs of 8 s at 200 calls/s, p99 limit 50 ms', () => {
    expect(splitSuite(['--suite=abuse', '--quick'])).toEqual({ suite: 'abuse', rest: ['--quick'] });
    expect(parseAbuseArgs([])).toMatchObject({ suite: 'abuse', modes: ['quiet', 'flood', 'hold'], runs: 3, seconds: 8, rate: 200, clients: 2, floodStreams: 100_000, holdConnections: 50, p99LimitMs: 50 });
    expect(parseAbuseArgs(['--quick'])).toMatchObject({ runs: 1, seconds: 3 });
    expect(parseAbuseArgs(['--only', 'hold,quiet'])).toMatchObject({ modes: ['quiet', 'hold'] });
    expect(() => parseAbuseArgs(['--only', 'slowloris'])).toThrow("--only: unknown name 'slowloris'");
    expect(() => parseAbuseArgs(['--flood-streams', '0'])).toThrow('--flood-streams: expected an integer 1-1000000');
    expect(parseAbuseArgs(['--help'])).toBe('help');
  });

  it('offers the well-behaved calls in bursts by default, spread out with --arrivals spread', () => {
    expect(parseAbuseArgs([])).toMatchObject({ arrivals: 'burst' });
    expect(parseAbuseArgs(['--arrivals', 'spread'])).toMatchObject({ arrivals: 'spread' });
    expect(() => parseAbuseArgs(['--arrivals', 'burst,spread'])).toThrow("--arrivals: expected one of burst, spread, got 'burst,spread'");
  });

  it("reads the abuser's last JSON line, and nothing from an abuser that died without one", () => {
    expect(parseAbuserReport('warning\n{"connections":3,"resets":10,"goaways":2,"streams":300000}\n')).toEqual({ connections: 3, resets: 10, goaways: 2, streams: 300000 });
    expect(parseAbuserReport('Error: boom\n    at x\n')).toBeUndefined();
    expect(parseAbuserReport('{"connections":')).toBeUndefined();
  });

  it('floods with requests on streams 1, 3, 5, … that a decoder reads back, none ending its stream', () => {
    const frames: Array<{ type: number; flags: number; streamId: number; payload: Buffer }> = [];
    const reader = new FrameReader({ onFrame: (type, flags, streamId, buf, start, end) => frames.push({ type, flags, streamId, payload: Buffer.from(buf.subarray(start, end)) }) });
    for (const f of requestHeaders(3)) reader.push(f);
    expect(frames.map((f) => [f.type, f.streamId, f.flags & Flags.END_STREAM])).toEqual([
      [FrameType.HEADERS, 1, 0],
      [FrameType.HEADERS, 3, 0],
      [FrameType.HEADERS, 5, 0],
    ]);
    const dec = new HpackDecoder();
    for (const f of frames) {
      const out: string[] = [];
      dec.decode(f.payload, 0, f.payload.length, out);
      expect(out).toEqual(expect.arrayContaining([':path', '/bench.Echo/Unary', ':method', 'POST']));
    }
  });

  it('passes a mode whose median p99 is under the limit with no failed call; fails it otherwise', () => {
    const ok = formatAbuseReport([sample('quiet', 1, 2000), sample('flood', 1, 10_000), sample('hold', 1, 4000)], 50);
    expect(ok.failed).toBe(false);
    expect(ok.text).toMatch(/flood\s+p99 10\.00 ms, 0 failed call\(s\)\s+PASS/);
    expect(ok.text).toMatch(/^flood .* 5\.00× /m);
    const slow = formatAbuseReport([sample('flood', 1, 40_000), sample('flood', 2, 60_000), sample('flood', 3, 70_000)], 50);
    expect(slow.failed).toBe(true);
    expect(slow.text).toMatch(/flood\s+p99 60\.00 ms, 0 failed call\(s\)\s+FAIL/);
    expect(slow.text).toContain('40.0, 60.0, 70.0');
    const failing = formatAbuseReport([sample('hold', 1, 1000, 2)], 50);
    expect(failing.failed).toBe(true);
    expect(failing.text).toMatch(/hold\s+p99 1\.00 ms, 2 failed call\(s\)\s+FAIL/);
  });
});
