// SPDX-License-Identifier: Apache-2.0
// bench/report.ts: medians, per-call CPU, problems, targets (issue #2's with node-floor's notes and h2-floor's
// ratios; issue #14's figures), A/B pairs, the memory summary (sampled peaks, heap after GC) and the report text.

import { describe, expect, it } from 'vitest';
import type { PathName, Scenario } from '../../../bench/args.js';
import type { HeapUsage } from '../../../bench/heap-probe.js';
import type { RssTrace, TreeMemory } from '../../../bench/memory.js';
import {
  evaluateIssue14Targets,
  evaluateTargets,
  floorNotes,
  formatComparisons,
  formatIssue14Targets,
  formatMemoryTable,
  type IdleReading,
  type MemorySummary,
  formatReport,
  formatSampleLine,
  median,
  perRun,
  problemsOf,
  proxyCpuPerCall,
  summarise,
  summariseMemory,
  type Sample,
} from '../../../bench/report.js';

/** A sample with `calls` calls, all successful, and the given per-call CPU (µs) for proxy and app. */
function sample(
  scenario: Scenario,
  path: PathName,
  run: number,
  o: {
    rps: number;
    proxyUs?: number;
    appUs: number;
    calls?: number;
    p50Us?: number;
    p99Us?: number;
    memory?: TreeMemory;
    trace?: RssTrace;
    idle?: TreeMemory;
    heap?: HeapUsage;
    heapBefore?: HeapUsage;
  },
): Sample {
  const calls = o.calls ?? 10_000;
  return {
    scenario,
    path,
    run,
    load: {
      reqPerSec: o.rps,
      done: calls,
      succeeded: calls,
      failed: 0,
      errored: 0,
      timeout: 0,
      p50Us: o.p50Us ?? 2000,
      p99Us: o.p99Us ?? 8000,
    },
    appCalls: calls,
    proxyCpuUs: o.proxyUs === undefined ? undefined : o.proxyUs * calls,
    appCpuUs: o.appUs * calls,
    proxyMemory: o.memory,
    rssTrace: o.trace,
    idleMemory: o.idle,
    heap: o.heap,
    heapBeforeGc: o.heapBefore,
  };
}

const DESCRIBE: Record<Scenario, string> = { 'unary-low': 'low', 'unary-rate': 'rate', 'unary-spread': 'spread', 'unary-peak': 'peak', 'large-peak': 'large' };

describe('median', () => {
  it('takes the middle value, the mean of the two middle ones for an even count, and skips NaN', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5, NaN])).toBe(5);
  });

  it('is NaN without values', () => {
    expect(median([])).toBeNaN();
    expect(median([NaN])).toBeNaN();
  });
});

describe('summarise', () => {
  it('reports medians per (scenario, path) of CPU per call, not CPU over medians of calls', () => {
    const samples = [
      sample('unary-rate', 'meshlet', 1, { rps: 4000, proxyUs: 100, appUs: 40 }),
      sample('unary-rate', 'meshlet', 2, { rps: 3990, proxyUs: 300, appUs: 50, calls: 5000 }),
      sample('unary-rate', 'meshlet', 3, { rps: 3980, proxyUs: 120, appUs: 45 }),
      sample('unary-rate', 'direct', 1, { rps: 4000, appUs: 30 }),
    ];
    const [m, d] = summarise(samples);
    expect(m).toMatchObject({ path: 'meshlet', runs: 3, reqPerSec: 3990, proxyCpuUsPerCall: 120, appCpuUsPerCall: 45 });
    expect(m?.totalCpuUsPerCall).toBe(165);
    expect(d).toMatchObject({ path: 'direct', runs: 1, proxyCpuUsPerCall: undefined, totalCpuUsPerCall: 30 });
  });

  it('gives NaN CPU per call when no call reached the app', () => {
    const s = sample('unary-peak', 'meshlet', 1, { rps: 0, proxyUs: 1, appUs: 1, calls: 0 });
    expect(proxyCpuPerCall(s)).toBeNaN();
  });
});

describe('problemsOf', () => {
  it('counts failed requests and calls h2load saw succeed that the app never completed', () => {
    const s = sample('unary-rate', 'meshlet', 1, { rps: 4000, proxyUs: 1, appUs: 1 });
    s.load = { ...s.load, done: 1000, succeeded: 990 };
    s.appCalls = 980; // 10 answered HTTP 200 with an error grpc-status by the proxy
    expect(problemsOf(s)).toBe(20);
  });
});

/** A run where nginx costs 60 µs + app 100 µs and peaks at 8000 req/s. */
function nginxAnd(path: PathName, rate: { proxyUs: number; appUs: number }, peakRps: number): Sample[] {
  return [
    sample('unary-rate', 'nginx', 1, { rps: 4000, proxyUs: 60, appUs: 100 }),
    sample('unary-peak', 'nginx', 1, { rps: 8000, proxyUs: 50, appUs: 80 }),
    sample('unary-rate', path, 1, { rps: 4000, ...rate }),
    sample('unary-peak', path, 1, { rps: peakRps, proxyUs: rate.proxyUs, appUs: rate.appUs }),
  ];
}

describe('evaluateTargets', () => {
  it('passes at exactly the limits', () => {
    // proxy 90 = 1.5 × 60; proxy + app 90 + 70 = 160 = nginx + app; peak 7200 = 0.9 × 8000.
    const targets = evaluateTargets(summarise(nginxAnd('meshlet', { proxyUs: 90, appUs: 70 }, 7200)));
    expect(targets.map((t) => t.verdict)).toEqual(['PASS', 'PASS', 'PASS']);
    expect(targets.map((t) => t.ratio)).toEqual([1, 1.5, 0.9]);
  });

  it('fails just past the limits', () => {
    const targets = evaluateTargets(summarise(nginxAnd('meshlet', { proxyUs: 91, appUs: 70 }, 7199)));
    expect(targets.map((t) => t.verdict)).toEqual(['FAIL', 'FAIL', 'FAIL']);
  });

  it('is n/a when nginx was not measured', () => {
    const only = [sample('unary-rate', 'meshlet', 1, { rps: 4000, proxyUs: 90, appUs: 40 })];
    expect(evaluateTargets(summarise(only)).map((t) => t.verdict)).toEqual(['n/a', 'n/a', 'n/a']);
  });

  it('evaluates another path on request (node-floor)', () => {
    const targets = evaluateTargets(summarise(nginxAnd('node-floor', { proxyUs: 150, appUs: 40 }, 9000)), 'node-floor');
    expect(targets.map((t) => t.verdict)).toEqual(['FAIL', 'FAIL', 'PASS']);
  });
});

describe('floorNotes', () => {
  it('notes each target node-floor itself misses, and only those', () => {
    // proxy 150 µs = 2.5 × nginx (FAIL); proxy + app 150 + 10 = nginx + app (PASS); peak 9000 ≥ 0.9 × 8000 (PASS).
    const notes = floorNotes(summarise(nginxAnd('node-floor', { proxyUs: 150, appUs: 10 }, 9000)));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/node-floor itself misses "proxy CPU\/call vs nginx" \(2\.50×/);
    expect(notes[0]).toMatch(/not reachable on node:http2/);
  });

  it('has nothing to say when node-floor was not measured', () => {
    expect(floorNotes(summarise(nginxAnd('meshlet', { proxyUs: 500, appUs: 40 }, 100)))).toEqual([]);
  });
});

describe('perRun and formatComparisons', () => {
  const samples = [1, 2, 3].flatMap((run) => [
    sample('unary-rate', 'meshlet', run, { rps: 4000, proxyUs: 100 + run, appUs: 40 }),
    sample('unary-rate', 'meshlet+log', run, { rps: 4000, proxyUs: 110 + 2 * run, appUs: 40 }),
    sample('unary-rate', 'meshlet-b', run, { rps: 4000, proxyUs: 80 + 0.8 * run, appUs: 40 }),
  ]);

  it('pairs samples of the same run', () => {
    const diff = perRun(samples, 'unary-rate', 'meshlet+log', 'meshlet', proxyCpuPerCall, (a, b) => a - b);
    expect(diff).toEqual([11, 12, 13]);
  });

  it('prints the access log cost and the A/B ratio with every run', () => {
    const text = formatComparisons(samples).join('\n');
    expect(text).toContain('proxy CPU/call +12.0 µs (runs: 11.0 12.0 13.0)');
    expect(text).toContain('A/B: meshlet-b against meshlet');
    expect(text).toContain('proxy CPU/call 0.800× (runs: 0.800 0.800 0.800)');
  });

  it('compares meshlet-b with meshlet+log when asked to', () => {
    expect(formatComparisons(samples, 'meshlet+log').join('\n')).toContain('A/B: meshlet-b against meshlet+log');
  });
});

describe('formatReport', () => {
  const samples = [
    ...nginxAnd('meshlet', { proxyUs: 120, appUs: 60 }, 7000),
    sample('unary-rate', 'node-floor', 1, { rps: 4000, proxyUs: 100, appUs: 60 }),
    sample('unary-peak', 'node-floor', 1, { rps: 7500, proxyUs: 90, appUs: 50 }),
    sample('unary-rate', 'h2-floor', 1, { rps: 4000, proxyUs: 30, appUs: 60 }),
    sample('unary-peak', 'h2-floor', 1, { rps: 9000, proxyUs: 25, appUs: 50 }),
    sample('unary-rate', 'direct', 1, { rps: 4000, appUs: 50, p50Us: 1000, p99Us: 4000 }),
    sample('unary-peak', 'direct', 1, { rps: 20000, appUs: 30 }),
  ];
  const text = formatReport(summarise(samples), DESCRIBE, samples);

  it('shows every path with ratios against nginx, node-floor and h2-floor', () => {
    const ratios = text.slice(text.indexOf('Ratios'));
    expect(ratios).toContain('proxy CPU ×h2-floor');
    expect(ratios).toMatch(/meshlet\s+2\.00\s+1\.20\s+4\.00\s+1\.13\s+0\.88\s+0\.93\s+0\.35\s+1\.00\s+4\.00/);
    expect(ratios).toMatch(/node-floor\s+1\.67\s+1\.00\s+3\.33/);
    expect(ratios).toMatch(/h2-floor\s+0\.50\s+0\.30\s+1\.00/);
  });

  it('shows meshlet, node-floor and h2-floor side by side in the targets, with the FAIL and the floor notes', () => {
    expect(text).toMatch(/proxy CPU\/call vs nginx\s+2\.00×\s+1\.67×\s+0\.50×\s+≤ 1\.50×\s+FAIL/);
    expect(text).toContain('note: node-floor itself misses "proxy CPU/call vs nginx"');
    expect(text).not.toContain('node-floor itself misses "peak req/s');
  });
});

/** Tree memory of `processes` processes with the given RSS and high-water mark, in MiB. */
function mib(rssMiB: number, hwmMiB: number, processes = 1): TreeMemory {
  return { rssKiB: rssMiB * 1024, hwmKiB: hwmMiB * 1024, processes };
}

/** An RSS trace whose peak and last reading are given in MiB. */
function trace(peakMiB: number, lastMiB = peakMiB): RssTrace {
  return { samples: 30, peakKiB: peakMiB * 1024, lastKiB: lastMiB * 1024 };
}

/** process.memoryUsage() with heapUsed, external and rss in MiB. */
function heapOf(heapUsedMiB: number, externalMiB = 2, rssMiB = 70, heapTotalMiB = heapUsedMiB + 2): HeapUsage {
  const b = 1024 * 1024;
  return { heapUsed: heapUsedMiB * b, heapTotal: heapTotalMiB * b, external: externalMiB * b, arrayBuffers: 0, rss: rssMiB * b };
}

describe('summariseMemory and formatMemoryTable', () => {
  const samples = [
    ...[1, 2, 3].flatMap((run) => [
      sample('unary-rate', 'meshlet', run, {
        rps: 4000,
        proxyUs: 100,
        appUs: 40,
        memory: mib(60 + run, 70 + run),
        trace: trace(64 + run, 60 + run),
        idle: mib(48 + run, 49 + run),
        heap: heapOf(15 + run),
        heapBefore: heapOf(30, 2, 90, 40 + run),
      }),
      sample('unary-peak', 'meshlet', run, {
        rps: 9000,
        proxyUs: 90,
        appUs: 40,
        memory: mib([80, 90, 70][run - 1] as number, 95 + run),
        trace: trace([85, 120, 75][run - 1] as number),
      }),
      sample('unary-rate', 'nginx', run, { rps: 4000, proxyUs: 60, appUs: 40, memory: mib(12, 13, 2), trace: trace(12.5) }),
      sample('unary-rate', 'direct', run, { rps: 4000, appUs: 40 }),
    ]),
  ];
  const idle: IdleReading[] = [
    { path: 'nginx', memory: mib(10, 10.5, 2) },
    { path: 'meshlet', memory: mib(50, 52), settled: mib(41, 52), heap: heapOf(14) },
    { path: 'node-floor', memory: undefined },
  ];
  const memory = summariseMemory(samples, idle);

  it('gives the median sampled peak, the RSS after, and the heap before and after GC per scenario', () => {
    expect(memory.map((m) => m.path)).toEqual(['meshlet', 'nginx']);
    const rate = memory[0]?.scenarios['unary-rate'];
    expect(rate).toEqual({ peakMiB: 66, afterMiB: 62, heapMiB: 17, externalMiB: 2, heapTotalBeforeMiB: 42, rssAfterGcMiB: 70 });
    expect(memory[0]?.scenarios['unary-peak']).toMatchObject({ peakMiB: 85, afterMiB: 80 });
    expect(memory[0]?.scenarios['unary-peak']?.heapMiB).toBeNaN();
    expect(memory[0]?.scenarios['large-peak']).toBeUndefined();
  });

  it("takes idle RSS as the median of the start-up reading and each fresh process's own, and the idle heap", () => {
    // Idle readings 50 (start-up), 49, 50, 51 (fresh processes): median 50.
    expect(memory[0]).toMatchObject({ processes: 1, idleMiB: 50, idleHeapMiB: 14 });
    expect(memory[1]).toMatchObject({ processes: 2, idleMiB: 10 });
  });

  it('takes the settled idle RSS from the start-up process read again, NaN where it was not read', () => {
    // Only the start-up process is read again; the fresh processes' own idle readings (49-51) do not count here.
    expect(memory[0]?.idleSettledMiB).toBe(41);
    expect(memory[1]?.idleSettledMiB).toBeNaN();
  });

  it('takes the highest RSS over the bench from sampled peaks and VmHWM alike', () => {
    // The 120 MiB sampled peak of run 2's unary-peak is above every VmHWM (at most 98).
    expect(memory[0]?.maxMiB).toBe(120);
    // nginx: VmHWM 13 is above its sampled peaks (12.5).
    expect(memory[1]?.maxMiB).toBe(13);
  });

  it('leaves out direct and paths with neither an idle reading nor a sample with memory', () => {
    expect(memory.some((m) => m.path === 'direct' || m.path === 'node-floor')).toBe(false);
  });

  it('prints an idle row and one row per scenario in MiB, the highest RSS and the caveats', () => {
    const text = formatMemoryTable(memory, 3).join('\n');
    expect(text).toContain('median of 3');
    expect(text).toMatch(/meshlet\s+idle\s+1\s+50\.0\s+-\s+-\s+-\s+14\.0\s+-/);
    expect(text).toMatch(/meshlet\s+idle, settled\s+1\s+41\.0\s+-/);
    expect(text).not.toMatch(/nginx\s+idle, settled/);
    expect(text).toMatch(/meshlet\s+unary-rate\s+66\.0\s+62\.0\s+42\.0\s+70\.0\s+17\.0\s+2\.0/);
    expect(text).toMatch(/nginx\s+unary-rate\s+12\.5\s+12\.0\s+-\s+-\s+-\s+-/);
    expect(text).toContain('highest RSS over the bench (largest sampled peak or summed VmHWM): meshlet 120.0, nginx 13.0');
    expect(text).toMatch(/RSS includes V8 heap reservations/);
  });

  it('prints nothing when no proxy memory was read', () => {
    expect(formatMemoryTable(summariseMemory(samples.filter((s) => s.path === 'direct'), []), 1)).toEqual([]);
  });
});

describe('evaluateIssue14Targets and formatIssue14Targets', () => {
  const RATES = { rate: 4000, lowRate: 1000 };
  /**
   * meshlet and nginx with the given large-peak req/s and CPU, fixed-rate p99 and CPU (the same in unary-rate and
   * unary-spread); nginx fixed at 1000 req/s, 100 µs, 10 ms, 40 µs.
   */
  function run(m: { largeRps: number; largeUs: number; p99Ms: number; rateUs: number }): Sample[] {
    return [
      sample('large-peak', 'nginx', 1, { rps: 1000, proxyUs: 100, appUs: 100 }),
      sample('large-peak', 'meshlet', 1, { rps: m.largeRps, proxyUs: m.largeUs, appUs: 100 }),
      sample('large-peak', 'direct', 1, { rps: 3000, appUs: 100 }),
      sample('unary-rate', 'nginx', 1, { rps: 4000, proxyUs: 40, appUs: 50, p99Us: 10_000 }),
      sample('unary-rate', 'meshlet', 1, { rps: 4000, proxyUs: m.rateUs, appUs: 50, p99Us: m.p99Ms * 1000 }),
      sample('unary-rate', 'h2-floor', 1, { rps: 4000, proxyUs: 20, appUs: 50, p99Us: 6000 }),
      sample('unary-spread', 'nginx', 1, { rps: 4000, proxyUs: 40, appUs: 50, p99Us: 10_000 }),
      sample('unary-spread', 'meshlet', 1, { rps: 4000, proxyUs: m.rateUs, appUs: 50, p99Us: m.p99Ms * 1000 }),
    ];
  }
  /** A memory summary for meshlet with the given idle RSS (at start and settled alike), peak at the low rate and highest RSS. */
  function mem(idleMiB: number, lowPeakMiB: number, maxMiB: number): MemorySummary[] {
    const scenario = { peakMiB: lowPeakMiB, afterMiB: lowPeakMiB, heapMiB: 10, externalMiB: 1, heapTotalBeforeMiB: 20, rssAfterGcMiB: 50 };
    return [{ path: 'meshlet', processes: 1, idleMiB, idleSettledMiB: idleMiB, idleHeapMiB: 8, scenarios: { 'unary-low': scenario }, maxMiB }];
  }

  it('passes every target at exactly its limit', () => {
    const rows = evaluateIssue14Targets(summarise(run({ largeRps: 1000, largeUs: 150, p99Ms: 10, rateUs: 40 })), mem(55, 64, 128), RATES);
    expect(rows.map((r) => r.verdict)).toEqual(['PASS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS']);
    expect(rows.map((r) => r.limit)).toEqual([
      '≥ 1.00× nginx',
      '≤ 1.50× nginx',
      '≤ 1.00× nginx',
      '≤ 1.00× nginx',
      '≤ 1.00× nginx',
      '≤ 1.00× nginx',
      '≤ 55 MiB',
      '≤ 55 MiB',
      '≤ 64 MiB',
      '≤ 128 MiB',
    ]);
  });

  it('fails every target just past its limit', () => {
    const rows = evaluateIssue14Targets(summarise(run({ largeRps: 999, largeUs: 151, p99Ms: 10.01, rateUs: 40.1 })), mem(55.1, 64.1, 128.1), RATES);
    expect(rows.map((r) => r.verdict)).toEqual(['FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL']);
  });

  it('carries the figures of meshlet, nginx, h2-floor and direct, and is n/a where a side was not measured', () => {
    const rows = evaluateIssue14Targets(summarise(run({ largeRps: 500, largeUs: 300, p99Ms: 5, rateUs: 30 })), [], RATES);
    const [largeRps, , p99] = rows;
    expect(largeRps?.values).toEqual({ meshlet: 500, nginx: 1000, 'h2-floor': NaN, direct: 3000 });
    expect(largeRps?.ratio).toBe(0.5);
    expect(p99?.values).toMatchObject({ meshlet: 5, nginx: 10, 'h2-floor': 6 });
    expect(rows.slice(6).map((r) => r.verdict)).toEqual(['n/a', 'n/a', 'n/a', 'n/a']);
    const nginxMissing = evaluateIssue14Targets(summarise(run({ largeRps: 500, largeUs: 300, p99Ms: 5, rateUs: 30 }).filter((s) => s.path !== 'nginx')), [], RATES);
    expect(nginxMissing.slice(0, 6).map((r) => r.verdict)).toEqual(['n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
  });

  it('prints one line per figure with every path, the ratio, the limit and the verdict', () => {
    const rows = evaluateIssue14Targets(summarise(run({ largeRps: 500, largeUs: 300, p99Ms: 5, rateUs: 30 })), mem(80, 100, 160), RATES);
    const text = formatIssue14Targets(rows).join('\n');
    expect(text).toContain('Targets (issue #14)');
    expect(text).toMatch(/64 KiB unary, peak req\/s\s+500\s+1000\s+-\s+3000\s+0\.50×\s+≥ 1\.00× nginx\s+FAIL/);
    expect(text).toMatch(/unary at 4000\/s, p99 ms\s+5\.00\s+10\.00\s+6\.00\s+-\s+0\.50×\s+≤ 1\.00× nginx\s+PASS/);
    expect(text).toMatch(/unary at 4000\/s spread, p99 ms\s+5\.00\s+10\.00\s+-\s+-\s+0\.50×\s+≤ 1\.00× nginx\s+PASS/);
    expect(text).toMatch(/RSS peak at 1000\/s, MiB\s+100\.0\s+-\s+-\s+-\s+-\s+≤ 64 MiB\s+FAIL/);
  });
});

describe('formatSampleLine', () => {
  it('shows the proxy RSS after the run, and none on the direct path', () => {
    const proxied = sample('unary-rate', 'meshlet', 1, { rps: 4000, proxyUs: 100, appUs: 40, memory: mib(61.25, 70) });
    expect(formatSampleLine(proxied, 1)).toContain('rss 61.3 MiB');
    const traced = sample('unary-rate', 'meshlet', 1, { rps: 4000, proxyUs: 100, appUs: 40, memory: mib(61, 70), trace: trace(66), heap: heapOf(16.5) });
    expect(formatSampleLine(traced, 1)).toContain('rss 61.0 MiB (peak 66.0)  heap after GC 16.5 MiB');
    expect(formatSampleLine(sample('unary-rate', 'direct', 1, { rps: 4000, appUs: 40 }), 1)).not.toContain('rss');
  });
});
