// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { cleanupRules, meshletJumps, redirectRules } from '../../../src/redirect/rules.js';
import { redirectSettings, type RedirectFlags } from '../../../src/redirect/settings.js';

function settings(flags: RedirectFlags = {}) {
  const r = redirectSettings(flags);
  if (!r.ok) throw new Error(r.error);
  return r.settings;
}

const FRESH = { inbound: false, outbound: false };

describe('redirectRules', () => {
  it('redirects every inbound port but 22 and admin, and every outbound connection but the proxy UID and loopback', () => {
    expect(redirectRules(settings(), FRESH)).toBe(`*nat
:MESHLET_INBOUND - [0:0]
:MESHLET_IN_REDIRECT - [0:0]
:MESHLET_OUTPUT - [0:0]
:MESHLET_OUT_REDIRECT - [0:0]
-A MESHLET_INBOUND -p tcp -m tcp --dport 22 -j RETURN
-A MESHLET_INBOUND -p tcp -m tcp --dport 6191 -j RETURN
-A MESHLET_INBOUND -p tcp -j MESHLET_IN_REDIRECT
-A MESHLET_IN_REDIRECT -p tcp -j REDIRECT --to-ports 6143
-A MESHLET_OUTPUT -m owner --uid-owner 4242 -j RETURN
-A MESHLET_OUTPUT -o lo -j RETURN
-A MESHLET_OUTPUT -d 127.0.0.0/8 -j RETURN
-A MESHLET_OUTPUT -p tcp -j MESHLET_OUT_REDIRECT
-A MESHLET_OUT_REDIRECT -p tcp -j REDIRECT --to-ports 6140
-A PREROUTING -p tcp -j MESHLET_INBOUND
-A OUTPUT -p tcp -j MESHLET_OUTPUT
COMMIT
`);
  });

  it('redirects only the listed inbound ports, after the exclusions, and applies every flag', () => {
    const s = settings({
      'proxy-uid': '1337',
      'inbound-port': '15006',
      'outbound-port': '15001',
      'admin-port': '15000',
      'inbound-ports': '8080,9090',
      'exclude-inbound-ports': '9090',
      'exclude-outbound-ports': '5432',
      'exclude-outbound-cidrs': '10.96.0.0/12',
    });
    expect(redirectRules(s, FRESH)).toBe(`*nat
:MESHLET_INBOUND - [0:0]
:MESHLET_IN_REDIRECT - [0:0]
:MESHLET_OUTPUT - [0:0]
:MESHLET_OUT_REDIRECT - [0:0]
-A MESHLET_INBOUND -p tcp -m tcp --dport 15000 -j RETURN
-A MESHLET_INBOUND -p tcp -m tcp --dport 9090 -j RETURN
-A MESHLET_INBOUND -p tcp -m tcp --dport 8080 -j MESHLET_IN_REDIRECT
-A MESHLET_INBOUND -p tcp -m tcp --dport 9090 -j MESHLET_IN_REDIRECT
-A MESHLET_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A MESHLET_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A MESHLET_OUTPUT -o lo -j RETURN
-A MESHLET_OUTPUT -d 127.0.0.0/8 -j RETURN
-A MESHLET_OUTPUT -d 10.96.0.0/12 -j RETURN
-A MESHLET_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN
-A MESHLET_OUTPUT -p tcp -j MESHLET_OUT_REDIRECT
-A MESHLET_OUT_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A PREROUTING -p tcp -j MESHLET_INBOUND
-A OUTPUT -p tcp -j MESHLET_OUTPUT
COMMIT
`);
  });

  it("with --inbound-ports '' leaves the inbound chains empty and adds no PREROUTING jump", () => {
    const text = redirectRules(settings({ 'inbound-ports': '' }), FRESH);
    expect(text).not.toContain('PREROUTING');
    expect(text).not.toMatch(/^-A MESHLET_IN/m);
    expect(text).toContain(':MESHLET_INBOUND - [0:0]');
    expect(text).toContain('-A OUTPUT -p tcp -j MESHLET_OUTPUT');
  });

  it('adds no jump the table already has, so a second run changes nothing', () => {
    const text = redirectRules(settings(), { inbound: true, outbound: true });
    expect(text).not.toMatch(/^-A (PREROUTING|OUTPUT) /m);
    expect(redirectRules(settings(), { inbound: true, outbound: false })).toMatch(/^-A OUTPUT -p tcp -j MESHLET_OUTPUT$/m);
  });
});

describe('cleanup', () => {
  it("finds meshlet's jumps among other rules, whatever their matches", () => {
    expect(
      meshletJumps([
        '-A PREROUTING -p tcp -j MESHLET_INBOUND',
        '-A PREROUTING -p tcp -j KUBE-SERVICES',
        '-A OUTPUT -j MESHLET_OUTPUT',
        '-A OUTPUT -p tcp -j MESHLET_OUTPUT_OTHER',
        '-A POSTROUTING -j MESHLET_OUTPUT',
      ]),
    ).toEqual(['-A PREROUTING -p tcp -j MESHLET_INBOUND', '-A OUTPUT -j MESHLET_OUTPUT']);
  });

  it('deletes the jumps before the chains, after flushing them', () => {
    expect(cleanupRules(['-A PREROUTING -p tcp -j MESHLET_INBOUND'])).toBe(`*nat
:MESHLET_INBOUND - [0:0]
:MESHLET_IN_REDIRECT - [0:0]
:MESHLET_OUTPUT - [0:0]
:MESHLET_OUT_REDIRECT - [0:0]
-D PREROUTING -p tcp -j MESHLET_INBOUND
-X MESHLET_INBOUND
-X MESHLET_IN_REDIRECT
-X MESHLET_OUTPUT
-X MESHLET_OUT_REDIRECT
COMMIT
`);
  });
});
