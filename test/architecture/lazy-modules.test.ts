// SPDX-License-Identifier: Apache-2.0
// Modules that only one feature needs are reached only through a dynamic import(), so a sidecar that does not use
// their feature never loads them (docs/decisions.md §14 and §16, docs/performance.md "Idle memory"). ioredis:
// loading it alone made the proxy spend 1.6-2.3x the CPU per call at peak and hold +25 MiB RSS; consul,
// @grpc/proto-loader (with protobufjs), the OpenTelemetry SDK and the certificate library are RSS a sidecar without
// their feature does not pay. cockatiel's index loads every policy; the breaker imports its two files by path.
// Two checks: the static import graph from src/main.ts (precise, names the import to remove), and the real CLI
// started in each mode with a module trace (catches what a package pulls in by itself).

import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startConsulDouble } from '../doubles/consul.js';
import { spawnMeshlet, waitForLog } from '../helpers/cli.js';
import { sourceFiles } from '../helpers/imports.js';
import { packageOf, readTrace, TRACE_FILE_ENV, traceArgs } from '../helpers/loaded-modules.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** `import x from 'y'` / `import { a } from 'y'` / `import 'y'` / `export { a } from 'y'`, not `import type`. */
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/** Each module → the only file allowed to import it statically (itself not statically reachable from main.ts). */
const LAZY: ReadonlyMap<string, string> = new Map([
  ['ioredis', 'src/redis/client.ts'],
  ['consul', 'src/discovery/consul/client.ts'],
  ['@grpc/proto-loader', 'src/telemetry/method-types.ts'],
  ['@opentelemetry/api', 'src/telemetry/tracing.ts'],
  ['@opentelemetry/core', 'src/telemetry/tracing.ts'],
  ['@opentelemetry/exporter-trace-otlp-http', 'src/telemetry/tracing.ts'],
  ['@opentelemetry/resources', 'src/telemetry/tracing.ts'],
  ['@opentelemetry/sdk-trace-base', 'src/telemetry/tracing.ts'],
  ['@peculiar/x509', 'src/tls/ca.ts'],
  ['reflect-metadata', 'src/tls/ca.ts'],
]);

/** Packages no file may import by their root: their index loads far more than meshlet uses. */
const NEVER_BY_ROOT = ['cockatiel'];

function staticImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(STATIC_IMPORT)].map((m) => {
    const spec = m[1] as string;
    return spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts') : spec;
  });
}

/** Every src file main.ts loads through static imports alone, each with the file that first imports it. */
function staticallyReachable(from: string): Map<string, string> {
  const parent = new Map<string, string>([[from, '']]);
  const queue = [from];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    for (const to of staticImports(f)) {
      if (!to.startsWith('src/') || parent.has(to)) continue;
      parent.set(to, f);
      queue.push(to);
    }
  }
  return parent;
}

function chain(parent: ReadonlyMap<string, string>, file: string): string {
  const up = parent.get(file);
  return up ? `${chain(parent, up)} → ${file}` : file;
}

describe('modules loaded only on demand: the static import graph', () => {
  const files = sourceFiles(ROOT, 'src');
  const reachable = staticallyReachable('src/main.ts');

  it.each([...LAZY])('%s is imported statically by %s alone, which main.ts reaches only through import()', (module, owner) => {
    const offenders: string[] = [];
    for (const f of files) if (f !== owner && staticImports(f).includes(module)) offenders.push(`${f} imports ${module}`);
    if (reachable.has(owner)) offenders.push(`main.ts loads ${owner} statically: ${chain(reachable, owner)}`);
    expect(offenders).toEqual([]);
    expect(staticImports(owner)).toContain(module);
  });

  it.each(NEVER_BY_ROOT)('no file imports %s by its root', (module) => {
    expect(files.filter((f) => staticImports(f).includes(module))).toEqual([]);
  });

  it('notices a static import and a static path (the checks can fail)', () => {
    expect(reachable.has('src/app.ts')).toBe(true);
    expect(chain(reachable, 'src/app/telemetry.ts')).toBe('src/main.ts → src/app.ts → src/app/telemetry.ts');
    expect([..."import { createRedisClient } from '../redis/client.js';\n".matchAll(STATIC_IMPORT)]).toHaveLength(1);
    expect([..."export { createRedisClient } from '../redis/client.js';\n".matchAll(STATIC_IMPORT)]).toHaveLength(1);
    expect([..."import type { Redis } from 'ioredis';\n".matchAll(STATIC_IMPORT)]).toHaveLength(0);
    expect([..."const m = await import('../redis/client.js');\n".matchAll(STATIC_IMPORT)]).toHaveLength(0);
  });
});

/** Packages (or package files) no mode below may load: their feature is off in all three. */
const NEVER_LOADED = [
  'ioredis',
  '@grpc/proto-loader',
  'protobufjs',
  '@grpc/grpc-js',
  '@opentelemetry/sdk-trace-base',
  '@opentelemetry/exporter-trace-otlp-http',
  '@peculiar/x509',
  'reflect-metadata',
  'cockatiel/dist/index.js',
];

describe('modules loaded only on demand: the CLI in each mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-lazy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Starts the CLI with a module trace, waits until it listens, stops it; the files it loaded. */
  async function loadedBy(name: string, args: string[]): Promise<string[]> {
    const file = join(dir, `${name}.json`);
    const child = spawnMeshlet(args, { [TRACE_FILE_ENV]: file }, traceArgs());
    try {
      await waitForLog(child, (l) => l.msg === 'meshlet listening');
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    return readTrace(file);
  }

  const bootstrap = (extra: string): string => {
    const path = join(dir, `${extra === '' ? 'static' : 'consul'}.yaml`);
    writeFileSync(
      path,
      [
        'service: { name: orders, address: 127.0.0.1 }',
        'inbound: { listen: 127.0.0.1:0, app: 127.0.0.1:1 }',
        'outbound: { listen: 127.0.0.1:0 }',
        'admin: { listen: 127.0.0.1:0 }',
        'upstreams:',
        '  billing: { endpoints: [127.0.0.1:1] }',
        extra,
      ].join('\n'),
    );
    return path;
  };

  it('quick mode loads none of them, nor consul', async () => {
    const loaded = await loadedBy('quick', ['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--admin', '127.0.0.1:0']);
    // The trace sees both kinds of module: ESM (meshlet's own, under tsx) and CommonJS (pino).
    expect(loaded).toContain(`file://${ROOT}/src/main.ts`);
    expect(loaded.map(packageOf)).toContain('pino');
    expect(offenders(loaded, [...NEVER_LOADED, 'consul'])).toEqual([]);
  });

  it('run with static upstreams loads none of them, nor consul', async () => {
    const loaded = await loadedBy('static', ['run', '--config', bootstrap('')]);
    expect(offenders(loaded, [...NEVER_LOADED, 'consul'])).toEqual([]);
  });

  it('run with Consul discovery loads consul, and none of the others', async () => {
    const consul = await startConsulDouble();
    try {
      const loaded = await loadedBy('consul', ['run', '--config', bootstrap(`  payments: {}\nconsul: { address: "${consul.address}" }`)]);
      expect(loaded.map(packageOf)).toContain('consul');
      expect(offenders(loaded, NEVER_LOADED)).toEqual([]);
    } finally {
      await consul.close();
    }
  });
});

/** The entries of `loaded` that are one of `forbidden` (a package, or one file of a package). */
function offenders(loaded: readonly string[], forbidden: readonly string[]): string[] {
  return loaded.filter((f) => forbidden.some((x) => (x.includes('.js') ? f === x : packageOf(f) === x)));
}
