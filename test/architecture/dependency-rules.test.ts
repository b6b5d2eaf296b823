// SPDX-License-Identifier: Apache-2.0
// The dependency rules of docs/architecture.md, checked against the code: allowed arrows between areas, no import
// cycles, pure leaves, and the composition root as the only wiring. The page's `arrows` and `leaves` blocks are
// the rules, so the page and the code cannot drift apart.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { areaOf, cycles, importEdges, sourceFiles, type ImportEdge } from '../helpers/imports.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PAGE = readFileSync(`${ROOT}docs/architecture.md`, 'utf8');

function block(tag: string): string[] {
  const m = new RegExp('```' + tag + '\\n([\\s\\S]*?)```').exec(PAGE);
  if (m === null) throw new Error(`docs/architecture.md has no \`\`\`${tag} block`);
  return (m[1] as string).split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** area → areas it may import, from the page. */
function allowedArrows(): Map<string, Set<string>> {
  const arrows = new Map<string, Set<string>>();
  for (const line of block('arrows')) {
    const [from, to = ''] = line.split(':');
    arrows.set((from as string).trim(), new Set(to.trim().split(/\s+/).filter((x) => x !== '')));
  }
  return arrows;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*');
  return new RegExp(`^${body}$`);
}

const files = sourceFiles(ROOT, 'src');
const edges = importEdges(ROOT, files);
const local = edges.filter((e) => e.to.startsWith('src/'));
const leafPatterns = block('leaves').map(globToRegExp);
const isLeaf = (f: string): boolean => leafPatterns.some((re) => re.test(f));
/** Node modules that do I/O; a leaf may import their types but not the modules. */
const IO_MODULES = /^node:(net|tls|http|http2|https|fs|fs\/promises|child_process|dgram|dns|worker_threads|cluster)$/;

describe('dependency rules (docs/architecture.md)', () => {
  it('every import between areas is an allowed arrow', () => {
    const arrows = allowedArrows();
    const bad = new Set<string>();
    for (const e of local) {
      const a = areaOf(e.from);
      const b = areaOf(e.to);
      if (a === b || (a === 'app' && b === 'app')) continue;
      if (!(arrows.get(a)?.has(b) ?? false)) bad.add(`${a} -> ${b} (${e.from} imports ${e.to})`);
    }
    expect([...bad].sort()).toEqual([]);
  });

  it('lists every area, and every arrow it allows is used by some import', () => {
    const arrows = allowedArrows();
    const used = new Set(local.map((e) => `${areaOf(e.from)} -> ${areaOf(e.to)}`));
    const unused: string[] = [];
    for (const [a, targets] of arrows) for (const b of targets) if (!used.has(`${a} -> ${b}`)) unused.push(`${a} -> ${b}`);
    expect(unused.sort()).toEqual([]);
    const areas = new Set(files.map(areaOf).map((a) => (a === 'app' ? 'app' : a)));
    expect([...areas].filter((a) => !arrows.has(a)).sort()).toEqual([]);
  });

  it('the area graph has no cycles', () => {
    const arrows = allowedArrows();
    const graph = new Map([...arrows].map(([a, b]) => [a, [...b]] as const));
    expect(cycles([...arrows.keys()], graph)).toEqual([]);
  });

  it('has no import cycles between files, type-only imports included', () => {
    const graph = new Map<string, string[]>();
    for (const e of local) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    expect(cycles(files, graph)).toEqual([]);
  });

  it('leaves import only leaves, and from Node only types of I/O modules', () => {
    const bad: string[] = [];
    for (const e of edges as ImportEdge[]) {
      if (!isLeaf(e.from)) continue;
      if (e.to.startsWith('src/') && !isLeaf(e.to)) bad.push(`${e.from} imports ${e.to}, which is not a leaf`);
      if (IO_MODULES.test(e.to) && !e.typeOnly) bad.push(`${e.from} imports ${e.to} (I/O)`);
    }
    expect(bad).toEqual([]);
    // The leaves block names real files (a renamed leaf must be renamed here too).
    for (const re of leafPatterns) expect(files.some((f) => re.test(f)), `no file matches ${re}`).toBe(true);
  });

  it('only the composition root, main and the CLI import the composition root', () => {
    const bad = local
      .filter((e) => areaOf(e.to) === 'app' && !['app', 'main', 'cli'].includes(areaOf(e.from)))
      .map((e) => `${e.from} imports ${e.to}`);
    expect(bad).toEqual([]);
  });

  it('reads imports the way TypeScript writes them (self-check of the parser)', () => {
    const probe = importEdges(ROOT, ['src/proxy/forward.ts']);
    expect(probe).toContainEqual({ from: 'src/proxy/forward.ts', to: 'src/h2/frame.ts', typeOnly: false });
    expect(probe).toContainEqual({ from: 'src/proxy/forward.ts', to: 'src/h2/stream.ts', typeOnly: true });
    expect(probe.some((e) => e.to === 'node:http2' && e.typeOnly)).toBe(true);
  });
});
