// SPDX-License-Identifier: Apache-2.0
// A strict parser of the Prometheus text exposition format (version 0.0.4, prometheus/docs
// content/docs/instrumenting/exposition_formats.md), so tests assert on what a Prometheus server would read, not
// on substrings. It rejects what the format forbids: bad names, malformed label sets or escapes, a TYPE after
// samples, duplicate HELP/TYPE, a family split into non-adjacent groups, duplicate series, and histograms whose
// buckets are not cumulative or whose +Inf bucket differs from _count.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, ...). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestampMs: number | undefined;
}

export interface Family {
  readonly name: string;
  type: MetricType;
  help: string | undefined;
  readonly samples: Sample[];
}

export interface Exposition {
  readonly families: ReadonlyMap<string, Family>;
  /**
   * The value of the one sample named `name` whose labels are exactly `labels`; undefined when there is none.
   */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum over samples named `name` whose labels include `labels` (a partial match); 0 when none. */
  sum(name: string, labels?: Record<string, string>): number;
  /** Samples named `name` whose labels include `labels`. */
  select(name: string, labels?: Record<string, string>): Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class PromParseError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

/** A sample value as Prometheus reads it: Go's strconv.ParseFloat, whose Inf/Infinity/NaN are case-insensitive. */
function parseValue(text: string, line: number): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(text);
  if (special !== null) {
    if ((special[2] as string).toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new PromParseError(line, `invalid value "${text}"`);
  return Number(text);
}

/** Reads `{a="x",b="y"}` starting at `pos` (which is '{'); returns the labels and the position after '}'. */
function parseLabels(text: string, pos: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = pos + 1;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return [labels, i + 1];
    const nameStart = i;
    while (i < text.length && /[a-zA-Z0-9_]/.test(text[i] as string)) i++;
    const name = text.slice(nameStart, i);
    if (!LABEL_NAME.test(name)) throw new PromParseError(line, `invalid label name "${name}"`);
    if (name in labels) throw new PromParseError(line, `duplicate label "${name}"`);
    while (text[i] === ' ') i++;
    if (text[i] !== '=') throw new PromParseError(line, `expected '=' after label ${name}`);
    i++;
    while (text[i] === ' ') i++;
    if (text[i] !== '"') throw new PromParseError(line, `expected '"' to open the value of label ${name}`);
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new PromParseError(line, `unterminated value of label ${name}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new PromParseError(line, `invalid escape \\${e ?? ''} in label ${name}`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++;
    while (text[i] === ' ') i++;
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') return [labels, i + 1];
    throw new PromParseError(line, `expected ',' or '}' after label ${name}`);
  }
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_, e: string) => (e === 'n' ? '\n' : '\\'));
}

/** The family a sample belongs to: histogram/summary suffixes map to their family when it was declared. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const f = families.get(base);
      if (f !== undefined && (f.type === 'histogram' || f.type === 'summary')) return base;
    }
  }
  return name;
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

function matches(labels: Readonly<Record<string, string>>, want: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(want)) if (labels[k] !== v) return false;
  return true;
}

/** Parses an exposition; throws PromParseError naming the line on anything the format forbids. */
export function parsePrometheusText(text: string): Exposition {
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  if (text.length > 0 && !text.endsWith('\n')) throw new PromParseError(lines.length, 'the exposition must end with a line feed');
  const family = (name: string, lineNo: number): Family => {
    if (current !== name) {
      if (closed.has(name)) throw new PromParseError(lineNo, `lines of family ${name} are not grouped together`);
      if (current !== undefined) closed.add(current);
      current = name;
    }
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trimEnd();
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (m === null) return; // a comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new PromParseError(lineNo, `invalid metric name "${name}"`);
      const f = family(name, lineNo);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new PromParseError(lineNo, `second HELP for ${name}`);
        f.help = unescapeHelp(rest ?? '');
      } else {
        const type = (rest ?? '').trim();
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new PromParseError(lineNo, `invalid type "${type}"`);
        if (f.samples.length > 0) throw new PromParseError(lineNo, `TYPE of ${name} after its samples`);
        if (f.type !== 'untyped' || seen.has(`type:${name}`)) throw new PromParseError(lineNo, `second TYPE for ${name}`);
        seen.add(`type:${name}`);
        f.type = type as MetricType;
      }
      return;
    }
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
    const name = line.slice(0, i);
    if (!METRIC_NAME.test(name)) throw new PromParseError(lineNo, `invalid metric name "${name}"`);
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, lineNo);
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new PromParseError(lineNo, 'expected "value [timestamp]"');
    const value = parseValue(rest[0] as string, lineNo);
    const timestampMs = rest[1] === undefined ? undefined : Number(rest[1]);
    if (timestampMs !== undefined && !Number.isInteger(timestampMs)) throw new PromParseError(lineNo, `invalid timestamp "${rest[1]}"`);
    const fam = family(familyOf(name, families), lineNo);
    const key = `${name}${labelKey(labels)}`;
    if (seen.has(key)) throw new PromParseError(lineNo, `duplicate series ${name}${JSON.stringify(labels)}`);
    seen.add(key);
    if (fam.type === 'counter' && (value < 0 || Number.isNaN(value))) throw new PromParseError(lineNo, `counter ${name} is ${value}`);
    if (fam.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new PromParseError(lineNo, `bucket of ${name} without le`);
    fam.samples.push({ name, labels, value, timestampMs });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);

  const select = (name: string, labels: Record<string, string> = {}): Sample[] => {
    const fam = families.get(familyOf(name, families as Map<string, Family>));
    return (fam?.samples ?? []).filter((s) => s.name === name && matches(s.labels, labels));
  };
  return {
    families,
    select,
    value(name, labels = {}) {
      const want = labelKey(labels);
      const hits = select(name, labels).filter((s) => labelKey(s.labels as Record<string, string>) === want);
      return hits[0]?.value;
    },
    sum(name, labels = {}) {
      return select(name, labels).reduce((a, s) => a + s.value, 0);
    },
  };
}

/** Per label set (without le): buckets ascending by le and cumulative, +Inf present and equal to _count. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count: number | undefined }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = labelKey(rest);
    let g = groups.get(key);
    if (g === undefined) {
      g = { buckets: [], count: undefined };
      groups.set(key, g);
    }
    if (s.name === `${f.name}_bucket`) g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    else if (s.name === `${f.name}_count`) g.count = s.value;
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if ((sorted[i] as [number, number])[1] < (sorted[i - 1] as [number, number])[1]) throw new Error(`histogram ${f.name}${key}: buckets are not cumulative`);
    }
    const inf = sorted.at(-1);
    if (inf === undefined || inf[0] !== Infinity) throw new Error(`histogram ${f.name}${key}: no +Inf bucket`);
    if (g.count !== inf[1]) throw new Error(`histogram ${f.name}${key}: +Inf bucket ${inf[1]} != _count ${g.count}`);
  }
}

/** GETs `http://<admin>/metrics` and parses it. */
export async function scrape(admin: string): Promise<Exposition> {
  const res = await fetch(`http://${admin}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain') || !type.includes('version=0.0.4')) throw new Error(`unexpected content-type ${type}`);
  return parsePrometheusText(await res.text());
}
