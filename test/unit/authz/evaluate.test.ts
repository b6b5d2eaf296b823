// SPDX-License-Identifier: Apache-2.0
// The authz evaluator: a table of policy × call (method, caller identity, metadata) → decision, outcome and the
// rule that decided; then modes, memoisation per snapshot and the no-allocation lookup tables.
import { describe, expect, it } from 'vitest';
import { authzOf, type AuthzDecision } from '../../../src/authz/evaluate.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/schema.js';

function policy(yaml: string): Policy {
  const r = parsePolicy('p.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const ADMIN = 'spiffe://cluster.local/ns/admin/sa/root';

const USERS = `
authz:
  services:
    user.v1.Users: { defaultAction: deny }
  rules:
    - name: no-plaintext-deletes
      action: deny
      methods: ["user.v1.Users/Delete"]
      unauthenticated: true
    - name: frontend-reads
      action: allow
      methods: ["user.v1.Users/Get", "user.v1.Users/List"]
      identities: ["spiffe://cluster.local/ns/*/sa/frontend"]
    - name: admins
      action: allow
      methods: ["user.v1.Users/*"]
      identities: ["spiffe://cluster.local/ns/admin/**"]
    - name: no-delete-from-frontend
      action: deny
      methods: ["user.v1.Users/Delete"]
      identities: ["${FRONTEND}"]
`;

const METADATA = `
authz:
  defaultAction: deny
  rules:
    - name: no-debug
      action: deny
      metadata: [{ name: x-debug, present: true }]
    - name: tenant-acme
      action: allow
      metadata: [{ name: x-tenant, equals: acme }]
    - name: user-ids
      action: allow
      metadata: [{ name: x-user, regex: "u-[0-9]{1,8}" }]
    - name: no-trace-header
      action: allow
      methods: ["a.B/NoTrace"]
      metadata: [{ name: x-trace, present: false }]
`;

type Row = [string, string, string, string | undefined, Record<string, string | string[]>, Pick<AuthzDecision, 'decision' | 'outcome' | 'rule'>];

const allow = (rule: string) => ({ decision: 'allow' as const, outcome: 'ok' as const, rule });
const denied = (rule: string) => ({ decision: 'deny' as const, outcome: 'permission-denied' as const, rule });
const unauthenticated = (rule: string) => ({ decision: 'deny' as const, outcome: 'unauthenticated' as const, rule });

describe('authz decisions', () => {
  const table: Row[] = [
    ['an allow rule with an exact identity', USERS, 'user.v1.Users/Get', FRONTEND, {}, allow('frontend-reads')],
    ['an allow rule through a `*` segment', USERS, 'user.v1.Users/List', 'spiffe://cluster.local/ns/web/sa/frontend', {}, allow('frontend-reads')],
    ['`*` is one segment only: no match, the service default denies', USERS, 'user.v1.Users/Get', 'spiffe://cluster.local/ns/a/b/sa/frontend', {}, denied('services.user.v1.Users.defaultAction')],
    ['a trailing `/**` over several segments, via a service-wide method pattern', USERS, 'user.v1.Users/Update', ADMIN, {}, allow('admins')],
    ['deny rules before allow rules, whatever their order in the file', USERS, 'user.v1.Users/Delete', FRONTEND, {}, denied('no-delete-from-frontend')],
    ['the service default denies what no rule allows', USERS, 'user.v1.Users/Update', FRONTEND, {}, denied('services.user.v1.Users.defaultAction')],
    ['an unauthenticated caller denied by default where identities could allow', USERS, 'user.v1.Users/Get', undefined, {}, unauthenticated('services.user.v1.Users.defaultAction')],
    ['a deny rule matching unauthenticated callers explicitly', USERS, 'user.v1.Users/Delete', undefined, {}, unauthenticated('no-plaintext-deletes')],
    ['the unauthenticated deny rule does not touch callers with an identity', USERS, 'user.v1.Users/Delete', ADMIN, {}, allow('admins')],
    ['a service without settings gets the global default (built-in allow)', USERS, 'other.v1.Svc/Do', undefined, {}, allow('defaultAction')],
    ['metadata present denies first', METADATA, 'a.B/C', undefined, { 'x-debug': '1', 'x-tenant': 'acme' }, denied('no-debug')],
    ['metadata equals allows', METADATA, 'a.B/C', undefined, { 'x-tenant': 'acme' }, allow('tenant-acme')],
    ['metadata equals is exact', METADATA, 'a.B/C', undefined, { 'x-tenant': 'Acme' }, denied('defaultAction')],
    ['metadata regex matches the whole value', METADATA, 'a.B/C', undefined, { 'x-user': 'u-42' }, allow('user-ids')],
    ['metadata regex is anchored', METADATA, 'a.B/C', undefined, { 'x-user': 'u-42x' }, denied('defaultAction')],
    ['a long value never satisfies an allow regex', METADATA, 'a.B/C', undefined, { 'x-user': `u-1${'0'.repeat(300)}` }, denied('defaultAction')],
    ['a key sent twice is tested on the joined values', METADATA, 'a.B/C', undefined, { 'x-tenant': ['acme', 'evil'] }, denied('defaultAction')],
    ['metadata absent (present: false) allows', METADATA, 'a.B/NoTrace', undefined, {}, allow('no-trace-header')],
    ['metadata absent fails when the key is sent', METADATA, 'a.B/NoTrace', undefined, { 'x-trace': '' }, denied('defaultAction')],
    [
      'default deny without identity-based allows is PERMISSION_DENIED even for unauthenticated callers',
      METADATA,
      'a.B/C',
      undefined,
      {},
      denied('defaultAction'),
    ],
    [
      'a deny rule without a caller condition hits every caller',
      'authz:\n  rules:\n    - { action: deny, methods: ["a.B/Drop"] }\n',
      'a.B/Drop',
      FRONTEND,
      {},
      denied('rules[0]'),
    ],
    [
      'an exact-method rule does not apply to the other methods',
      'authz:\n  rules:\n    - { action: deny, methods: ["a.B/Drop"] }\n',
      'a.B/Keep',
      FRONTEND,
      {},
      allow('defaultAction'),
    ],
  ];
  for (const [name, yaml, method, identity, headers, want] of table) {
    it(name, () => {
      const authz = authzOf(policy(yaml));
      const service = method.slice(0, method.indexOf('/'));
      const d = authz?.evaluate(`/${method}`, service, identity, headers);
      expect(d === undefined ? undefined : { decision: d.decision, outcome: d.outcome, rule: d.rule }).toEqual(want);
    });
  }

  it('a long value satisfies a deny regex (fail closed)', () => {
    const authz = authzOf(policy('authz:\n  rules:\n    - action: deny\n      metadata: [{ name: x-user, regex: "admin.*" }]\n'));
    expect(authz?.evaluate('/a.B/C', 'a.B', FRONTEND, { 'x-user': `admin${'x'.repeat(300)}` }).rule).toBe('rules[0]');
    expect(authz?.evaluate('/a.B/C', 'a.B', FRONTEND, { 'x-user': 'guest' }).rule).toBe('defaultAction');
  });
});

describe('authz modes and snapshots', () => {
  it('does no work without a section or with mode off', () => {
    expect(authzOf(policy('routes: []\n'))).toBeNull();
    expect(authzOf(policy('authz:\n  mode: off\n  defaultAction: deny\n'))).toBeNull();
  });

  it('shadow decides the same and marks the decision shadow; a present section enforces by default', () => {
    const shadow = authzOf(policy('authz:\n  mode: shadow\n  defaultAction: deny\n'));
    expect(shadow?.evaluate('/a.B/C', 'a.B', undefined, {})).toMatchObject({ decision: 'deny', outcome: 'permission-denied', mode: 'shadow' });
    expect(authzOf(policy('authz:\n  defaultAction: deny\n'))?.mode).toBe('enforce');
  });

  it('compiles once per snapshot and returns the same preallocated decision for every call', () => {
    const p = policy(USERS);
    const a = authzOf(p);
    expect(authzOf(p)).toBe(a);
    const first = a?.evaluate('/user.v1.Users/Get', 'user.v1.Users', FRONTEND, {});
    expect(a?.evaluate('/user.v1.Users/Get', 'user.v1.Users', FRONTEND, {})).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('looks up the exact method, then the service, then every method', () => {
    const a = authzOf(policy(USERS));
    expect(a?.table('/user.v1.Users/Delete', 'user.v1.Users').key).toBe('user.v1.Users/Delete');
    expect(a?.table('/user.v1.Users/Update', 'user.v1.Users').key).toBe('user.v1.Users/*');
    expect(a?.table('/x.Y/Z', 'x.Y').key).toBe('*');
    // The exact table holds the service-wide rules too, in file order, deny and allow apart.
    const t = a?.table('/user.v1.Users/Delete', 'user.v1.Users');
    expect(t?.deny.map((r) => r.index)).toEqual([0, 3]);
    expect(t?.allow.map((r) => r.index)).toEqual([2]);
  });
});
