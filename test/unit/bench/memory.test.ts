// SPDX-License-Identifier: Apache-2.0
// bench/memory.ts: /proc/<pid>/status parsing (VmRSS, VmHWM), summing memory over a process tree, and the RSS trace
// sampled through a measurement.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { addRssSample, EMPTY_TRACE, parseProcStatus, readTreeMemory, startRssSampler, sumMemory } from '../../../bench/memory.js';

/** /proc/<pid>/status of a node process on Linux 6.x, trimmed after the Vm* block's neighbours. */
const NODE_STATUS = `Name:\tnode
Umask:\t0022
State:\tS (sleeping)
Tgid:\t4321
Ngid:\t0
Pid:\t4321
PPid:\t17
TracerPid:\t0
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
FDSize:\t64
Groups:\t1000
VmPeak:\t 1234568 kB
VmSize:\t 1180000 kB
VmLck:\t       0 kB
VmPin:\t       0 kB
VmHWM:\t   98304 kB
VmRSS:\t   61440 kB
RssAnon:\t   40960 kB
RssFile:\t   20480 kB
RssShmem:\t       0 kB
VmData:\t  200000 kB
VmStk:\t     132 kB
VmExe:\t   80000 kB
VmLib:\t    5000 kB
VmPTE:\t     600 kB
VmSwap:\t       0 kB
HugetlbPages:\t       0 kB
Threads:\t11
SigQ:\t0/31457
`;

/** A kernel thread's status: no Vm* lines at all. */
const KTHREAD_STATUS = `Name:\tkworker/0:1
State:\tI (idle)
Tgid:\t12
Pid:\t12
PPid:\t2
Threads:\t1
`;

describe('parseProcStatus', () => {
  it('reads VmRSS and VmHWM in KiB, not VmPeak, RssAnon or the other Vm* lines', () => {
    expect(parseProcStatus(NODE_STATUS)).toEqual({ rssKiB: 61440, hwmKiB: 98304 });
  });

  it('is undefined for a process without memory lines (kernel thread, zombie)', () => {
    expect(parseProcStatus(KTHREAD_STATUS)).toBeUndefined();
  });

  it.runIf(existsSync('/proc/self/status'))('parses the real /proc/self/status of this process', () => {
    const memory = parseProcStatus(readFileSync('/proc/self/status', 'utf8'));
    expect(memory?.rssKiB).toBeGreaterThan(0);
    expect(memory?.hwmKiB).toBeGreaterThanOrEqual(memory?.rssKiB ?? Infinity);
  });
});

describe('sumMemory', () => {
  it('adds RSS and high-water marks of every process and counts them, skipping the unreadable ones', () => {
    const master = { rssKiB: 4000, hwmKiB: 4100 };
    const worker = { rssKiB: 9000, hwmKiB: 12000 };
    expect(sumMemory([master, undefined, worker])).toEqual({ rssKiB: 13000, hwmKiB: 16100, processes: 2 });
  });

  it('is zero processes for an empty tree', () => {
    expect(sumMemory([])).toEqual({ rssKiB: 0, hwmKiB: 0, processes: 0 });
  });
});

describe.runIf(existsSync('/proc/self/status'))('readTreeMemory', () => {
  it('includes a live child in the tree of its parent', async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      const tree = readTreeMemory(process.pid);
      const alone = readTreeMemory(child.pid as number);
      expect(alone?.processes).toBe(1);
      expect(tree?.processes).toBeGreaterThanOrEqual(2);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('is undefined for a pid that does not exist', () => {
    expect(readTreeMemory(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('addRssSample', () => {
  it('keeps the largest and the last reading and counts them', () => {
    const readings = [61_000, 98_000, 70_000];
    const trace = readings.reduce(addRssSample, EMPTY_TRACE);
    expect(trace).toEqual({ samples: 3, peakKiB: 98_000, lastKiB: 70_000 });
  });

  it('ignores unreadable readings and starts empty', () => {
    expect(EMPTY_TRACE.samples).toBe(0);
    expect(EMPTY_TRACE.peakKiB).toBeNaN();
    expect(addRssSample(addRssSample(EMPTY_TRACE, undefined), NaN)).toBe(EMPTY_TRACE);
    expect(addRssSample(EMPTY_TRACE, 5)).toEqual({ samples: 1, peakKiB: 5, lastKiB: 5 });
  });

  it('does not change the trace it is given', () => {
    const one = addRssSample(EMPTY_TRACE, 100);
    addRssSample(one, 200);
    expect(one).toEqual({ samples: 1, peakKiB: 100, lastKiB: 100 });
  });
});

describe.runIf(existsSync('/proc/self/status'))('startRssSampler', () => {
  it('reads at start and at stop, and ticks on its interval', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const sampler = startRssSampler(process.pid, 100);
      vi.advanceTimersByTime(350);
      const trace = sampler.stop();
      // One reading at start, three ticks, one at stop.
      expect(trace.samples).toBe(5);
      expect(trace.peakKiB).toBeGreaterThanOrEqual(trace.lastKiB);
      expect(trace.lastKiB).toBeGreaterThan(0);
      vi.advanceTimersByTime(1000);
      expect(sampler.stop().samples).toBe(6);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives an empty trace for a pid that does not exist', () => {
    expect(startRssSampler(2 ** 22 + 1).stop()).toEqual(EMPTY_TRACE);
  });
});
