// SPDX-License-Identifier: Apache-2.0
// bench/report.ts: medians, per-call CPU, problems, targets (with node-floor's notes and h2-floor's ratios), A/B pairs
// and the report text.

import { describe, expect, it } from 'vitest';
import type { PathName, Scenario } from '../../../bench/args.js';
import type { TreeMemory } from '../../../bench/memory.js';
import {
  evaluateTargets,
  floorNotes,
  formatComparisons,
  formatMemoryTable,
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
  o: { rps: number; proxyUs?: number; appUs: number; calls?: number; p50Us?: number; p99Us?: number; memory?: TreeMemory },
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
  };
}

const DESCRIBE: Record<Scenario, string> = { 'unary-rate': 'rate', 'unary-peak': 'peak', 'large-peak': 'large' };

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

describe('summariseMemory and formatMemoryTable', () => {
  const samples = [
    ...[1, 2, 3].flatMap((run) => [
      sample('unary-rate', 'meshlet', run, { rps: 4000, proxyUs: 100, appUs: 40, memory: mib(60 + run, 70 + run) }),
      sample('unary-peak', 'meshlet', run, { rps: 9000, proxyUs: 90, appUs: 40, memory: mib([80, 90, 70][run - 1] as number, 95 + run) }),
      sample('unary-rate', 'nginx', run, { rps: 4000, proxyUs: 60, appUs: 40, memory: mib(12, 13, 2) }),
      sample('unary-rate', 'direct', run, { rps: 4000, appUs: 40 }),
    ]),
  ];
  const idle = new Map<PathName, TreeMemory | undefined>([
    ['nginx', mib(10, 10.5, 2)],
    ['meshlet', mib(50, 52)],
    ['node-floor', undefined],
  ]);
  const memory = summariseMemory(samples, idle);

  it('gives idle RSS, the median RSS after each scenario and the largest summed high-water mark per proxy path', () => {
    expect(memory.map((m) => m.path)).toEqual(['meshlet', 'nginx']);
    const [meshlet, nginx] = memory;
    expect(meshlet).toMatchObject({ processes: 1, idleMiB: 50, peakSoFarMiB: 98 });
    expect(meshlet?.afterMiB['unary-rate']).toBe(62);
    expect(meshlet?.afterMiB['unary-peak']).toBe(80);
    expect(meshlet?.afterMiB['large-peak']).toBeNaN();
    expect(nginx).toMatchObject({ processes: 2, idleMiB: 10, peakSoFarMiB: 13 });
  });

  it('leaves out direct and paths with neither an idle reading nor a sample with memory', () => {
    expect(memory.some((m) => m.path === 'direct' || m.path === 'node-floor')).toBe(false);
  });

  it('prints one row per path in MiB, "-" for a scenario not run, and the RSS caveats', () => {
    const text = formatMemoryTable(memory, 3).join('\n');
    expect(text).toContain('median of 3');
    expect(text).toMatch(/meshlet\s+1\s+50\.0\s+62\.0\s+80\.0\s+-\s+98\.0/);
    expect(text).toMatch(/nginx\s+2\s+10\.0\s+12\.0\s+-\s+-\s+13\.0/);
    expect(text).toMatch(/RSS includes V8 heap reservations/);
    expect(text).toMatch(/peak so far = VmHWM summed over the tree/);
  });

  it('prints nothing when no proxy memory was read', () => {
    expect(formatMemoryTable(summariseMemory(samples.filter((s) => s.path === 'direct'), new Map()), 1)).toEqual([]);
  });
});

describe('formatSampleLine', () => {
  it('shows the proxy RSS after the run, and none on the direct path', () => {
    const proxied = sample('unary-rate', 'meshlet', 1, { rps: 4000, proxyUs: 100, appUs: 40, memory: mib(61.25, 70) });
    expect(formatSampleLine(proxied, 1)).toContain('rss 61.3 MiB');
    expect(formatSampleLine(sample('unary-rate', 'direct', 1, { rps: 4000, appUs: 40 }), 1)).not.toContain('rss');
  });
});
