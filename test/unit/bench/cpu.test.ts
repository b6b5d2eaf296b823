// SPDX-License-Identifier: Apache-2.0
// bench/cpu.ts: /proc/<pid>/stat parsing and summing CPU ticks over a process tree.

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProcStat, sumTreeTicks, treePids, type ProcStat } from '../../../bench/cpu.js';

/** Builds a stat line: pid (comm) state ppid, then fields 5-13 as zeros, utime(14) stime(15), then more fields. */
function statLine(pid: number, comm: string, ppid: number, utime: number, stime: number): string {
  return `${pid} (${comm}) S ${ppid} ${Array(9).fill('0').join(' ')} ${utime} ${stime} 0 0 20 0 1 0 12345 0`;
}

describe('parseProcStat', () => {
  it('reads ppid and utime + stime', () => {
    expect(parseProcStat(statLine(4321, 'node', 17, 250, 40))).toEqual({ ppid: 17, ticks: 290 });
  });

  it('counts fields after the last parenthesis, so a command name with spaces and parentheses parses', () => {
    expect(parseProcStat(statLine(9, 'nginx: worker (x) 1', 8, 7, 3))).toEqual({ ppid: 8, ticks: 10 });
  });

  it.runIf(existsSync('/proc/self/stat'))('parses the real /proc/self/stat of this process', () => {
    const stat = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    expect(stat.ppid).toBe(process.ppid);
    expect(stat.ticks).toBeGreaterThanOrEqual(0);
  });
});

describe('sumTreeTicks', () => {
  const stats = new Map<number, ProcStat>([
    [1, { ppid: 0, ticks: 1000 }], // init: not part of the tree
    [100, { ppid: 1, ticks: 5 }], // nginx master
    [101, { ppid: 100, ticks: 70 }], // its worker
    [102, { ppid: 101, ticks: 2 }], // a grandchild
    [200, { ppid: 1, ticks: 300 }], // an unrelated process
  ]);

  it('sums the root and all its descendants, and nothing else', () => {
    expect(sumTreeTicks(stats, 100)).toBe(77);
  });

  it('lists the tree root first, then its descendants', () => {
    const pids = treePids(stats, 100);
    expect(pids[0]).toBe(100);
    expect([...pids].sort((a, b) => a - b)).toEqual([100, 101, 102]);
    expect(treePids(stats, 999)).toEqual([]);
  });

  it('returns 0 when the root has exited', () => {
    expect(sumTreeTicks(stats, 999)).toBe(0);
  });

  it('terminates on a ppid cycle (pid reuse between listing and reading)', () => {
    const cyclic = new Map<number, ProcStat>([
      [5, { ppid: 6, ticks: 1 }],
      [6, { ppid: 5, ticks: 2 }],
    ]);
    expect(sumTreeTicks(cyclic, 5)).toBe(3);
  });
});
