// SPDX-License-Identifier: Apache-2.0
// `meshlet explain` lists the rate limits a call meets: the outbound ones in the chain (with their modes) and a
// table of each with rate, burst, scope and descriptors; inbound limits of the method as a note.
import { describe, expect, it } from 'vitest';
import { outboundExplainLayers } from '../../../src/app/explain.js';
import { explainCall } from '../../../src/policy/explain.js';
import { explainInboundRateLimits } from '../../../src/ratelimit/explain.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { OUTBOUND_LAYERS, OUTBOUND_TERMINAL } from '../../../src/proxy/outbound.js';

const POLICY = `
rateLimits:
  - name: users-per-caller
    direction: outbound
    match: { backend: users }
    rate: 50/s
    burst: 10
    by: [caller]
    callerHeader: x-caller
  - name: users-global
    direction: outbound
    match: { backend: users, method: "user.v1.Users/*" }
    rate: 600/m
    scope: global
    mode: shadow
  - name: orders-only
    direction: outbound
    match: { backend: orders }
    rate: 1/s
  - name: inbound-get
    match: { method: "user.v1.Users/Get" }
    rate: 5/s
`;

describe('explain: rate limits', () => {
  const r = parsePolicy('p.yaml', POLICY);
  if (!r.ok) throw new Error('policy fixture invalid');
  const lines = explainCall({ policy: r.config, policyFile: 'p.yaml', bootstrap: undefined, layers: outboundExplainLayers(undefined), terminal: OUTBOUND_TERMINAL, backend: 'users', method: 'user.v1.Users/Get' });

  it('shows the rate-limit layer in the chain, between route and timeout, with the limits that apply', () => {
    expect(lines[3]).toContain('route → rate-limit (users-per-caller enforce, users-global shadow) → timeout');
    expect(OUTBOUND_LAYERS.map((l) => l.name).indexOf('rate-limit')).toBe(OUTBOUND_LAYERS.map((l) => l.name).indexOf('route') + 1);
  });

  it('lists every outbound limit the call meets, and notes the inbound ones of its method', () => {
    const start = lines.indexOf('rateLimits (outbound, every one must admit the call)');
    expect(start).toBeGreaterThan(0);
    expect(lines.slice(start + 1, start + 4).map((l) => l.trim().split(/\s{2,}/))).toEqual([
      ['users-per-caller', '50/s burst 10, local, enforce', 'by caller (callerHeader x-caller)'],
      ['users-global', '600/m burst 600, global (failureMode open), shadow', 'by nothing (one bucket)'],
      ['note: inbound limits of this policy matching /user.v1.Users/Get (applied where this policy serves the method): inbound-get'],
    ]);
    expect(lines.join('\n')).not.toContain('orders-only');
  });
});

describe('explain --inbound: rate limits', () => {
  const r = parsePolicy('p.yaml', POLICY + '  - name: per-tenant\n    rate: 10/s\n    by: [caller, "header:x-tenant"]\n');
  if (!r.ok) throw new Error('policy fixture invalid');

  it('lists the inbound limits of the method with the bucket the call spends from', () => {
    expect(explainInboundRateLimits({ rateLimits: r.config.rateLimits, method: 'user.v1.Users/Get', identity: 'spiffe://td/ns/a/sa/web', metadata: { 'x-tenant': 't1' } })).toEqual([
      '',
      'rateLimits (inbound, every one must admit the call)',
      '  inbound-get: 5/s burst 5, local, enforce; one bucket for every call matched',
      '  per-tenant: 10/s burst 10, local, enforce; bucket caller=spiffe://td/ns/a/sa/web, header:x-tenant=t1',
    ]);
  });

  it('says when none matches', () => {
    expect(explainInboundRateLimits({ rateLimits: [], method: 'a.B/C', identity: undefined, metadata: {} }).at(-1)).toBe('  none matches this call');
  });
});
