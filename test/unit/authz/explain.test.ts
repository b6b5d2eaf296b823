// SPDX-License-Identifier: Apache-2.0
// `meshlet explain --inbound`: the rules an inbound call meets, whether each matches, and the decision with its
// source; the same decision the layer takes.
import { describe, expect, it } from 'vitest';
import { authzOf } from '../../../src/authz/evaluate.js';
import { explainAuthz, parseInboundMethod, parseMetadataArgs } from '../../../src/authz/explain.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/schema.js';

function policy(yaml: string): Policy {
  const r = parsePolicy('p.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const P = policy(`
authz:
  services:
    user.v1.Users: { defaultAction: deny }
  rules:
    - name: no-debug
      action: deny
      metadata: [{ name: x-debug, present: true }]
    - name: frontend
      action: allow
      methods: ["user.v1.Users/Get"]
      identities: ["spiffe://td/ns/*/sa/frontend"]
`);

describe('explainAuthz', () => {
  it('names the rule that decides, the table used and the source', () => {
    const x = explainAuthz({ authz: P.authz, method: 'user.v1.Users/Get', identity: 'spiffe://td/ns/web/sa/frontend' });
    expect(x.table).toBe('user.v1.Users/Get');
    expect(x.decision).toEqual(authzOf(P)?.evaluate('/user.v1.Users/Get', 'user.v1.Users', 'spiffe://td/ns/web/sa/frontend', {}));
    expect(x.lines).toContain('decision   allow by frontend → the call goes on to the app');
    expect(x.lines.find((l) => l.trim().startsWith('frontend'))).toMatch(/matches {2}← decides/);
    expect(x.lines.find((l) => l.trim().startsWith('no-debug'))).toMatch(/no match/);
  });

  it('explains an unauthenticated caller and metadata-driven denials', () => {
    const anon = explainAuthz({ authz: P.authz, method: 'user.v1.Users/Get', identity: undefined });
    expect(anon.decision).toMatchObject({ outcome: 'unauthenticated', rule: 'services.user.v1.Users.defaultAction' });
    expect(anon.lines).toContain('caller     no verified identity (plaintext peer)');
    expect(anon.lines).toContain('default    deny (authz.services.user.v1.Users.defaultAction)');
    const debug = explainAuthz({ authz: P.authz, method: 'user.v1.Users/Get', identity: 'spiffe://td/ns/web/sa/frontend', metadata: { 'x-debug': '1' } });
    expect(debug.decision).toMatchObject({ decision: 'deny', rule: 'no-debug', outcome: 'permission-denied' });
  });

  it('says so when authz does nothing', () => {
    expect(explainAuthz({ authz: undefined, method: 'a.B/C', identity: undefined }).lines.at(-1)).toMatch(/no authz section/);
    const off = explainAuthz({ authz: policy('authz:\n  mode: off\n').authz, method: 'a.B/C', identity: undefined });
    expect([off.mode, off.decision]).toEqual(['off', undefined]);
  });

  it('parses the CLI arguments', () => {
    expect(parseInboundMethod('a.v1.B/C')).toBe('a.v1.B/C');
    expect(parseInboundMethod('a.v1.B/*')).toBeUndefined();
    expect(parseMetadataArgs(['X-A=1', 'b=x=y'])).toEqual({ 'x-a': '1', b: 'x=y' });
    expect(parseMetadataArgs(['novalue'])).toBeUndefined();
  });
});
