// SPDX-License-Identifier: Apache-2.0
// Memory accounting for the benchmark: resident memory (VmRSS) and its high-water mark (VmHWM) of a process and all
// its descendants, from /proc/<pid>/status.

import { readFileSync } from 'node:fs';
import { procSnapshot, treePids } from './cpu.js';

/** The two fields of /proc/<pid>/status the bench uses, in KiB (the kernel's "kB" is 1024 bytes). */
export interface ProcMemory {
  /** VmRSS: resident set size now (anonymous + file-backed + shared memory pages). */
  rssKiB: number;
  /** VmHWM: the largest VmRSS this process has had since it started ("peak RSS so far"). */
  hwmKiB: number;
}

/** Memory of a process tree: per-process values summed. */
export interface TreeMemory extends ProcMemory {
  /** Processes that were summed (nginx: master + worker = 2). */
  processes: number;
}

/**
 * Reads VmRSS and VmHWM from the text of /proc/<pid>/status. Undefined when either is missing: kernel threads and
 * zombies have no Vm* lines. Values are taken as kB (KiB), the only unit the kernel prints there.
 */
export function parseProcStatus(text: string): ProcMemory | undefined {
  const rss = /^VmRSS:\s*(\d+)\s*kB$/m.exec(text);
  const hwm = /^VmHWM:\s*(\d+)\s*kB$/m.exec(text);
  if (!rss || !hwm) return undefined;
  return { rssKiB: Number(rss[1]), hwmKiB: Number(hwm[1]) };
}

/** Sums per-process memory; undefined entries (exited, or no Vm* lines) are skipped. Pure. */
export function sumMemory(entries: readonly (ProcMemory | undefined)[]): TreeMemory {
  const total: TreeMemory = { rssKiB: 0, hwmKiB: 0, processes: 0 };
  for (const m of entries) {
    if (!m) continue;
    total.rssKiB += m.rssKiB;
    total.hwmKiB += m.hwmKiB;
    total.processes++;
  }
  return total;
}

function readStatus(pid: number): ProcMemory | undefined {
  try {
    return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined; // exited between listing and reading
  }
}

/**
 * VmRSS and VmHWM summed over `rootPid` and its live descendants; undefined when the root is gone.
 * Two caveats, both stated under the bench's memory table: summed RSS counts pages shared between the processes
 * (nginx's worker shares code and copy-on-write pages with its master) once per process, so it overstates a
 * multi-process tree; and summed VmHWM adds peaks that may have happened at different times, so it is an upper
 * bound of the tree's peak.
 */
export function readTreeMemory(rootPid: number): TreeMemory | undefined {
  const pids = treePids(procSnapshot(), rootPid);
  if (pids.length === 0) return undefined;
  const total = sumMemory(pids.map(readStatus));
  return total.processes > 0 ? total : undefined;
}
