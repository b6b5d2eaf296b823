// SPDX-License-Identifier: Apache-2.0
// Reads a V8 sampling heap profile (CDP HeapProfiler.stopSampling, sampled with the objects minor and major GCs
// collected included): all the bytes a process allocated while sampling, and where. Pure; bench/alloc.ts runs it.

/** A node of CDP's SamplingHeapProfile tree (the fields read here). */
export interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  /** Bytes allocated at this frame itself (V8 scales its samples to an estimate of all allocations). */
  selfSize: number;
  children: SamplingNode[];
}

/** One allocation site: the frame that allocated and its two callers, innermost first. */
export interface AllocationSite {
  site: string;
  bytes: number;
}

export interface AllocationSummary {
  /** All bytes allocated while sampling. */
  totalBytes: number;
  /** The `top` sites with the most bytes, largest first (equal ones by name). */
  top: AllocationSite[];
}

/** `name file:line` of a frame, with paths shortened to start at `dist/` or `node_modules/`. */
export function frameName(f: SamplingNode['callFrame']): string {
  const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
}

/** Sums a profile (its root `head`) and names the sites with the most bytes (innermost frame < caller < caller). */
export function summarizeAllocations(head: SamplingNode, top: number): AllocationSummary {
  const bySite = new Map<string, number>();
  let totalBytes = 0;
  // Iterative walk: stacks can be deep, and the profile of a busy process has tens of thousands of nodes.
  const stack: Array<{ node: SamplingNode; frames: string[] }> = [{ node: head, frames: [] }];
  while (stack.length > 0) {
    const { node, frames } = stack.pop() as { node: SamplingNode; frames: string[] };
    const here = [...frames.slice(-2), frameName(node.callFrame)];
    if (node.selfSize > 0) {
      totalBytes += node.selfSize;
      const site = [...here].reverse().join(' < ');
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) stack.push({ node: child, frames: here });
  }
  const sites = [...bySite].map(([site, bytes]) => ({ site, bytes })).sort((a, b) => b.bytes - a.bytes || (a.site < b.site ? -1 : 1));
  return { totalBytes, top: sites.slice(0, top) };
}
