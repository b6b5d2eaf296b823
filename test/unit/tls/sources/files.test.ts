// SPDX-License-Identifier: Apache-2.0
// The `files` certificate source: first material, rotation through the directory watch (generation + 1), bad
// updates keep the old generation, start errors name the file and the reason, close() clears every timer.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReloadResult } from '../../../../src/config/reload-result.js';
import { initCa, issueLeaf, type LoadedCa } from '../../../../src/tls/ca.js';
import type { TlsMaterial } from '../../../../src/tls/material.js';
import { createFilesSource, type FilesCertSource } from '../../../../src/tls/sources/files.js';
import { captureLogger, materialPaths, replaceFile, writeMaterial } from '../../../helpers/tls.js';

let dir: string;
let ca: LoadedCa;
let source: FilesCertSource | undefined;
const ID = 'spiffe://mesh.test/ns/shop/sa/web';

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshlet-files-'));
  ca = await initCa({ dir: join(dir, 'ca'), trustDomain: 'mesh.test', intermediate: true });
});
afterEach(() => {
  source?.close();
  source = undefined;
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

// Tests that drive reload() themselves pass MANUAL: the watch then never fires within the test, so it cannot take
// the reload's result first (a watch-run rejection makes the manual reload of the same bad set 'unchanged').
const MANUAL = { reloadDebounceMs: 10_000 };

function start(extra: { now?: () => number; pollIntervalMs?: number; expectedIdentity?: string; reloadDebounceMs?: number } = {}) {
  const cap = captureLogger();
  const results: ReloadResult[] = [];
  const changes: TlsMaterial[] = [];
  source = createFilesSource({ ...materialPaths(dir), reloadDebounceMs: 20, pollIntervalMs: 0, log: cap.log, onReload: (r) => results.push(r), ...extra });
  source.onChange((m) => changes.push(m));
  return { source, results, changes, cap };
}

function nextChange(s: FilesCertSource): Promise<TlsMaterial> {
  return new Promise((resolve) => {
    const off = s.onChange((m) => {
      off();
      resolve(m);
    });
  });
}

describe('files certificate source', () => {
  it('loads the first material as generation 1 with its identity and validity', async () => {
    const leaf = await writeMaterial(ca, dir, { spiffeId: ID });
    const { source: s } = start();
    const m = await s.start();
    expect(m).toMatchObject({ generation: 1, identity: ID, keyPem: leaf.keyPem, certChainPem: leaf.chainPem });
    expect(m.notAfter.getTime()).toBe(leaf.notAfter.getTime());
    expect(s.current()).toBe(m);
    expect(s.kind).toBe('files');
  });

  it('picks up a rotated set through the directory watch as generation 2', async () => {
    await writeMaterial(ca, dir, { spiffeId: ID });
    const { source: s, cap } = start();
    await s.start();
    const changed = nextChange(s);
    const next = await writeMaterial(ca, dir, { spiffeId: ID });
    const m = await changed;
    expect(m.generation).toBe(2);
    expect(m.keyPem).toBe(next.keyPem);
    expect(s.current()).toBe(m);
    expect(cap.text()).not.toContain('PRIVATE KEY');
  });

  it('follows a Kubernetes Secret update: the ..data symlink swapped to a new timestamped directory', async () => {
    // kubelet's AtomicWriter layout: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/; an update writes a new
    // ..<timestamp>/ and renames a fresh ..data_tmp symlink over ..data.
    const secret = join(dir, 'secret');
    mkdirSync(join(secret, '..v1'), { recursive: true });
    await writeMaterial(ca, join(secret, '..v1'), { spiffeId: ID });
    symlinkSync('..v1', join(secret, '..data'));
    for (const name of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(join('..data', name), join(secret, name));
    const cap = captureLogger();
    source = createFilesSource({ ...materialPaths(secret), reloadDebounceMs: 20, pollIntervalMs: 0, log: cap.log });
    expect((await source.start()).generation).toBe(1);
    mkdirSync(join(secret, '..v2'));
    const next = await writeMaterial(ca, join(secret, '..v2'), { spiffeId: ID });
    const changed = nextChange(source);
    symlinkSync('..v2', join(secret, '..data_tmp'));
    renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
    const m = await changed;
    expect(m.generation).toBe(2);
    expect(m.keyPem).toBe(next.keyPem);
  });

  it('keeps the old generation when the new key is garbage, and logs the file and the reason', async () => {
    await writeMaterial(ca, dir, { spiffeId: ID });
    const { source: s, results, changes, cap } = start(MANUAL);
    const first = await s.start();
    await replaceFile(materialPaths(dir).keyFile, 'not a key\n');
    expect(await s.reload()).toBe('rejected');
    expect(s.current()).toBe(first);
    expect(changes.map((c) => c.generation)).toEqual([1]);
    const warn = cap.lines.find((l) => l.level === 'warn');
    expect(String(warn?.err)).toBe(`${materialPaths(dir).keyFile}: no PEM PRIVATE KEY block found`);
    expect(results).toContain('rejected');

    // A key from another leaf: the set is rejected until the matching chain lands too.
    const other = await issueLeaf(ca, { spiffeId: ID });
    await replaceFile(materialPaths(dir).keyFile, other.keyPem);
    expect(await s.reload()).toBe('rejected');
    expect(String(cap.lines.filter((l) => l.level === 'warn').at(-1)?.err)).toContain('private key does not match the certificate');
    await replaceFile(materialPaths(dir).certFile, other.chainPem);
    expect(await s.reload()).toBe('applied');
    expect(s.current()?.generation).toBe(2);
    expect(await s.reload()).toBe('unchanged');
  });

  it.each([
    ['a missing file', async () => rmSync(materialPaths(dir).trustBundleFile), (p: ReturnType<typeof materialPaths>) => `${p.trustBundleFile}: missing`],
    [
      'a chain that does not lead to the bundle',
      async () => {
        const other = await initCa({ dir: join(dir, 'other'), trustDomain: 'mesh.test' });
        await replaceFile(materialPaths(dir).trustBundleFile, other.trustBundlePem);
      },
      (p: ReturnType<typeof materialPaths>) => `${p.certFile}: certificate chain does not lead to a root in ${p.trustBundleFile}`,
    ],
    [
      'a leaf without its intermediate',
      async () => {
        const leaf = await issueLeaf(ca, { spiffeId: ID });
        await replaceFile(materialPaths(dir).keyFile, leaf.keyPem);
        await replaceFile(materialPaths(dir).certFile, leaf.certPem);
      },
      (p: ReturnType<typeof materialPaths>) => `${p.certFile}: certificate chain does not lead to a root`,
    ],
    [
      'a leaf with no SPIFFE ID (a CA certificate as the leaf)',
      async () => {
        await replaceFile(materialPaths(dir).certFile, ca.root.certPem);
        await writeFile(materialPaths(dir).keyFile, readFileSync(join(dir, 'ca/root.key'), 'utf8'));
      },
      (p: ReturnType<typeof materialPaths>) => `${p.certFile}: leaf certificate: invalid SPIFFE ID "spiffe://mesh.test": a workload ID needs a path`,
    ],
  ])('start() rejects %s, naming the file and the reason', async (_what, breakIt, message) => {
    await writeMaterial(ca, dir, { spiffeId: ID });
    await breakIt();
    const { source: s } = start();
    await expect(s.start()).rejects.toThrow(message(materialPaths(dir)));
    expect(s.current()).toBeUndefined();
  });

  it('holds the leaf to an explicit mtls.identity: another ID fails start() and is rejected on reload', async () => {
    await writeMaterial(ca, dir, { spiffeId: 'spiffe://mesh.test/ns/shop/sa/other' });
    const wrong = start({ expectedIdentity: ID }).source;
    await expect(wrong.start()).rejects.toThrow(
      `${materialPaths(dir).certFile}: leaf certificate is for spiffe://mesh.test/ns/shop/sa/other, but mtls.identity is ${ID}`,
    );
    wrong.close();

    await writeMaterial(ca, dir, { spiffeId: ID });
    const { source: s, results } = start({ expectedIdentity: ID, ...MANUAL });
    const first = await s.start();
    expect(first.identity).toBe(ID);
    const other = await issueLeaf(ca, { spiffeId: 'spiffe://mesh.test/ns/shop/sa/other' });
    await replaceFile(materialPaths(dir).keyFile, other.keyPem);
    await replaceFile(materialPaths(dir).certFile, other.chainPem);
    expect(await s.reload()).toBe('rejected');
    expect(s.current()).toBe(first);
    expect(results).toEqual(['rejected']);
  });

  it('start() rejects an expired or not yet valid leaf', async () => {
    const leaf = await writeMaterial(ca, dir, { spiffeId: ID, ttlMs: 3_600_000 });
    const late = start({ now: () => leaf.notAfter.getTime() + 1000 }).source;
    await expect(late.start()).rejects.toThrow(`${materialPaths(dir).certFile}: leaf certificate expired at ${leaf.notAfter.toISOString()}`);
    late.close();
    const early = start({ now: () => leaf.notBefore.getTime() - 1000 }).source;
    await expect(early.start()).rejects.toThrow('leaf certificate is not valid yet');
  });

  it('polls on its timer, and close() clears every timer and stops reloads', async () => {
    await writeMaterial(ca, dir, { spiffeId: ID });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const { source: s, results } = start({ pollIntervalMs: 1000 });
    await s.start();
    expect(vi.getTimerCount()).toBe(1); // the poll
    await writeMaterial(ca, dir, { spiffeId: ID });
    const changed = nextChange(s);
    await vi.advanceTimersByTimeAsync(1000 + 20);
    expect((await changed).generation).toBe(2);
    s.close();
    expect(vi.getTimerCount()).toBe(0);
    await writeMaterial(ca, dir, { spiffeId: ID });
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.current()?.generation).toBe(2);
    expect(results).toEqual(['applied']);
  });
});
