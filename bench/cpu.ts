// SPDX-License-Identifier: Apache-2.0
// CPU accounting for the benchmark: user+system clock ticks of a process and all its descendants, from /proc; also
// the process-tree walk that bench/memory.ts uses.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat utime and stime. Usually 100. */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(ticks) && ticks > 0) return ticks;
  } catch {
    // getconf missing: Linux has used USER_HZ = 100 on every mainstream architecture for decades.
  }
  return 100;
}

/** The two fields of /proc/<pid>/stat the bench uses. */
export interface ProcStat {
  ppid: number;
  /** utime + stime, in clock ticks. Includes every thread of the process (GC, libuv pool, nginx thread pool). */
  ticks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) may contain spaces and parentheses, so fields are counted
 * from the last ')': after it come state(3) ppid(4) ... utime(14) stime(15) (proc(5)).
 */
export function parseProcStat(text: string): ProcStat {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // exited between listing and reading
  }
}

/**
 * pid → stat of every process in /proc right now. Walks all of /proc once because
 * /proc/<pid>/task/<tid>/children is not available on every kernel. Processes that exit while it runs are left out.
 */
export function procSnapshot(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) stats.set(pid, stat);
  }
  return stats;
}

/**
 * utime + stime (clock ticks) of `rootPid` and every live descendant, e.g. nginx's master and its worker.
 * Ticks of descendants that exited during a measurement are lost, so measure long-lived processes only.
 */
export function treeCpuTicks(rootPid: number): number {
  return sumTreeTicks(procSnapshot(), rootPid);
}

/**
 * `rootPid` and all its descendants in a pid → stat snapshot, root first; empty when the root is not in it.
 * Pure; terminates on ppid cycles (pid reuse between listing and reading).
 */
export function treePids(stats: ReadonlyMap<number, ProcStat>, rootPid: number): number[] {
  const out: number[] = [];
  const pending = [rootPid];
  const seen = new Set<number>();
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    if (!stats.has(pid)) continue;
    out.push(pid);
    for (const [child, childStat] of stats) if (childStat.ppid === pid) pending.push(child);
  }
  return out;
}

/** Ticks of `rootPid` plus all its descendants in a pid → stat snapshot; 0 when the root is not in it. Pure. */
export function sumTreeTicks(stats: ReadonlyMap<number, ProcStat>, rootPid: number): number {
  return treePids(stats, rootPid).reduce((total, pid) => total + (stats.get(pid)?.ticks ?? 0), 0);
}
