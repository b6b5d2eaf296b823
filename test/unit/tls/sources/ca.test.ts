// SPDX-License-Identifier: Apache-2.0
// The `ca` certificate source on a manual clock: the first leaf, renewal at rotateAtFraction (generation + 1), a
// failed renewal keeps the old leaf and retries with backoff, and close() clears the timer.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initCa } from '../../../../src/tls/ca.js';
import type { TlsMaterial } from '../../../../src/tls/material.js';
import { createCaSource, type CaCertSource } from '../../../../src/tls/sources/ca.js';
import { createManualClock, type ManualClock } from '../../../helpers/manual-clock.js';
import { captureLogger } from '../../../helpers/tls.js';

const H = 3_600_000;
const T0 = Date.UTC(2031, 5, 1);
const ID = 'spiffe://mesh.test/svc/orders';
let dir: string;
let clock: ManualClock;
let source: CaCertSource | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshlet-ca-source-'));
  clock = createManualClock(T0);
  await initCa({ dir, trustDomain: 'mesh.test', intermediate: true, now: () => T0 - H });
});
afterEach(() => {
  source?.close();
  source = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function start(extra: { spiffeId?: string } = {}) {
  const cap = captureLogger();
  const changes: TlsMaterial[] = [];
  source = createCaSource({
    dir,
    spiffeId: extra.spiffeId ?? ID,
    leafTtlMs: 4 * H,
    rotateAtFraction: 0.5,
    retry: { baseMs: 1000, maxMs: 8000 },
    random: () => 0.5,
    clock,
    log: cap.log,
  });
  source.onChange((m) => changes.push(m));
  return { s: source, changes, cap };
}

/** Runs the due renewal and waits for the issuing (real crypto, so real async work) to finish. */
async function fireAndSettle(s: CaCertSource, ms: number): Promise<void> {
  const before = s.current()?.generation;
  const changed = new Promise<void>((resolve) => {
    const off = s.onChange(() => {
      off();
      resolve();
    });
  });
  clock.advance(ms);
  if (before !== undefined) await changed;
}

describe('ca certificate source', () => {
  it('issues generation 1 for the configured identity, chained to the CA root', async () => {
    const { s } = start();
    const m = await s.start();
    expect(m.generation).toBe(1);
    expect(m.identity).toBe(ID);
    expect(m.notBefore.getTime()).toBe(T0 - 60_000);
    expect(m.notAfter.getTime()).toBe(T0 + 4 * H);
    expect(m.trustBundlePem).toBe(readFileSync(join(dir, 'root.crt'), 'utf8'));
    expect(m.certChainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(s.kind).toBe('ca');
  });

  it('renews at half-life as generation 2 and schedules the next renewal', async () => {
    const { s, changes, cap } = start();
    const first = await s.start();
    // Half of the time from issuance (T0) to notAfter; notBefore is back-dated a minute for clock skew.
    const renewAt = T0 + Math.floor((first.notAfter.getTime() - T0) / 2);
    expect(clock.nextAt()).toBe(renewAt);
    await fireAndSettle(s, renewAt - T0);
    const second = s.current()!;
    expect(second.generation).toBe(2);
    expect(second.keyPem).not.toBe(first.keyPem);
    expect(second.notAfter.getTime()).toBe(renewAt + 4 * H);
    expect(changes.map((c) => c.generation)).toEqual([1, 2]);
    expect(clock.pending()).toBe(1);
    expect(clock.nextAt()).toBe(renewAt + Math.floor((second.notAfter.getTime() - renewAt) / 2));
    expect(cap.text()).not.toContain('PRIVATE KEY');
  });

  it('keeps the current leaf when renewal fails, retries with backoff, and recovers', async () => {
    const { s, cap } = start();
    const first = await s.start();
    const goodKey = readFileSync(join(dir, 'intermediate.key'), 'utf8');
    writeFileSync(join(dir, 'intermediate.key'), 'garbage');
    const due = clock.nextAt()! - clock.now();
    await expect(s.renew()).rejects.toThrow(`${join(dir, 'intermediate.key')}: no PEM PRIVATE KEY block found`);
    expect(s.current()).toBe(first);
    const warn = cap.lines.find((l) => l.level === 'warn');
    expect(warn).toMatchObject({ msg: 'leaf renewal failed; keeping the current leaf', generation: 1 });
    // Full jitter with random 0.5: the first retry is at most base (1 s), and sooner than the half-life timer.
    expect(clock.nextAt()! - clock.now()).toBeLessThanOrEqual(1000);
    expect(clock.nextAt()! - clock.now()).toBeLessThan(due);
    writeFileSync(join(dir, 'intermediate.key'), goodKey);
    await fireAndSettle(s, clock.nextAt()! - clock.now());
    expect(s.current()?.generation).toBe(2);
  });

  it('start() rejects with the CA file and reason, and for an identity outside the trust domain', async () => {
    rmSync(join(dir, 'root.key'));
    await expect(start().s.start()).rejects.toThrow(`${join(dir, 'root.key')}: missing`);
    source?.close();
    await initCa({ dir: join(dir, 'ok'), trustDomain: 'mesh.test' });
    source = createCaSource({ dir: join(dir, 'ok'), spiffeId: 'spiffe://other.test/svc/x', log: captureLogger().log, clock });
    await expect(source.start()).rejects.toThrow('is in trust domain "other.test", but this CA is for "mesh.test"');
    expect(clock.pending()).toBe(0);
  });

  it('splits a renewal further out than one timer can wait into hops, renewing only when due', async () => {
    await initCa({ dir: join(dir, 'long'), trustDomain: 'mesh.test', ttlMs: 400 * 24 * H, now: () => T0 - H });
    source = createCaSource({ dir: join(dir, 'long'), spiffeId: ID, leafTtlMs: 300 * 24 * H, clock, log: captureLogger().log });
    const first = await source.start();
    const dueAt = T0 + Math.floor((first.notAfter.getTime() - T0) / 2);
    expect(clock.nextAt()).toBe(T0 + 2_147_483_647);
    clock.advance(2_147_483_647);
    expect(source.current()).toBe(first);
    expect(clock.pending()).toBe(1);
    const changed = new Promise<void>((resolve) => source!.onChange(() => resolve()));
    clock.advance(dueAt - clock.now());
    await changed;
    expect(source.current()?.generation).toBe(2);
  });

  it('renews a short leaf at half its life from issuance, not at once (the back-dated notBefore is skew, not life)', async () => {
    source = createCaSource({ dir, spiffeId: ID, leafTtlMs: 10_000, clock, log: captureLogger().log });
    const first = await source.start();
    expect(first.notAfter.getTime() - T0).toBe(10_000);
    expect(clock.nextAt()).toBe(T0 + 5_000);
  });

  it('close() clears the renewal timer', async () => {
    const { s } = start();
    await s.start();
    expect(clock.pending()).toBe(1);
    s.close();
    expect(clock.pending()).toBe(0);
  });
});
