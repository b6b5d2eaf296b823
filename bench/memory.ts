// SPDX-License-Identifier: Apache-2.0
// Memory accounting for the benchmark: resident memory (VmRSS) and its high-water mark (VmHWM) of a process and all
// its descendants, from /proc/<pid>/status, read once or sampled through a measurement (peak RSS per scenario).

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

/** RSS sampled through one measurement: how many readings, the largest and the last summed VmRSS, in KiB. */
export interface RssTrace {
  samples: number;
  peakKiB: number;
  lastKiB: number;
}

/** A trace with no readings yet: peak and last are NaN. */
export const EMPTY_TRACE: RssTrace = Object.freeze({ samples: 0, peakKiB: NaN, lastKiB: NaN });

/** `trace` with one more reading of `rssKiB` (a tree's summed VmRSS). Pure; undefined readings leave it as it is. */
export function addRssSample(trace: RssTrace, rssKiB: number | undefined): RssTrace {
  if (rssKiB === undefined || Number.isNaN(rssKiB)) return trace;
  return {
    samples: trace.samples + 1,
    peakKiB: trace.samples === 0 ? rssKiB : Math.max(trace.peakKiB, rssKiB),
    lastKiB: rssKiB,
  };
}

/** A running RSS sampler; `stop()` takes one last reading, stops the timer and returns the trace. */
export interface RssSampler {
  stop(): RssTrace;
}

/**
 * Samples the summed VmRSS of `rootPid`'s tree every `intervalMs` (default 100 ms; 10-1000 is sane) from now until
 * `stop()`. The tree's pids are listed once, at the start (the proxies do not fork during a run), so each tick reads
 * only their /proc/<pid>/status: about 10 µs of the harness's CPU per process, none of the proxy's. A peak shorter
 * than the interval can be missed; VmHWM, read at the end, is the bound that misses nothing.
 */
export function startRssSampler(rootPid: number, intervalMs = 100): RssSampler {
  const pids = treePids(procSnapshot(), rootPid);
  let trace = EMPTY_TRACE;
  const read = (): void => {
    const total = sumMemory(pids.map(readStatus));
    trace = addRssSample(trace, total.processes > 0 ? total.rssKiB : undefined);
  };
  read();
  const timer = setInterval(read, intervalMs);
  return {
    stop(): RssTrace {
      clearInterval(timer);
      read();
      return trace;
    },
  };
}
