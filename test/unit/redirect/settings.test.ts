// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { REDIRECT_DEFAULTS, redirectSettings, type RedirectFlags } from '../../../src/redirect/settings.js';

function settings(flags: RedirectFlags) {
  const r = redirectSettings(flags);
  if (!r.ok) throw new Error(r.error);
  return r.settings;
}

describe('redirectSettings', () => {
  it('fills in the contract defaults when no flag is given', () => {
    expect(settings({})).toEqual({
      proxyUid: 4242,
      inboundPort: 6143,
      outboundPort: 6140,
      adminPort: 6191,
      inboundPorts: '*',
      excludeInboundPorts: [],
      excludeOutboundPorts: [],
      excludeOutboundCidrs: [],
    });
    expect(Object.isFrozen(settings({}))).toBe(true);
    expect(REDIRECT_DEFAULTS.proxyUid).toBe(4242);
  });

  it('parses lists, drops duplicates and canonicalizes a bare address to /32', () => {
    const s = settings({
      'proxy-uid': '1337',
      'inbound-ports': '8080, 9090,8080',
      'exclude-inbound-ports': '15021',
      'exclude-outbound-ports': '5432,6379',
      'exclude-outbound-cidrs': '10.96.0.0/12,169.254.169.254',
    });
    expect(s.proxyUid).toBe(1337);
    expect(s.inboundPorts).toEqual([8080, 9090]);
    expect(s.excludeInboundPorts).toEqual([15021]);
    expect(s.excludeOutboundPorts).toEqual([5432, 6379]);
    expect(s.excludeOutboundCidrs).toEqual(['10.96.0.0/12', '169.254.169.254/32']);
  });

  it("reads --inbound-ports '' as no inbound redirect and '*' as every port", () => {
    expect(settings({ 'inbound-ports': '' }).inboundPorts).toEqual([]);
    expect(settings({ 'inbound-ports': '*' }).inboundPorts).toBe('*');
  });

  it.each([
    [{ 'proxy-uid': 'meshlet' }, '--proxy-uid: "meshlet" is not a UID'],
    [{ 'proxy-uid': '-1' }, '--proxy-uid: "-1" is not a UID'],
    [{ 'inbound-port': '0' }, '--inbound-port: "0" is not a TCP port (1-65535)'],
    [{ 'outbound-port': '65536' }, '--outbound-port: "65536" is not a TCP port'],
    [{ 'admin-port': '61 91' }, '--admin-port: "61 91" is not a TCP port'],
    [{ 'inbound-ports': '8080,http' }, '--inbound-ports: "http" is not a TCP port'],
    [{ 'inbound-ports': '8080,,9090' }, '--inbound-ports: "" is not a TCP port'],
    [{ 'exclude-inbound-ports': '1-100' }, '--exclude-inbound-ports: "1-100" is not a TCP port'],
    [{ 'exclude-outbound-ports': '99999' }, '--exclude-outbound-ports: "99999" is not a TCP port'],
    [{ 'exclude-outbound-cidrs': '10.0.0.0/33' }, '--exclude-outbound-cidrs: "10.0.0.0/33" is not an IPv4 CIDR'],
    [{ 'exclude-outbound-cidrs': '10.0.0.256' }, '--exclude-outbound-cidrs: "10.0.0.256" is not an IPv4 CIDR'],
    [{ 'exclude-outbound-cidrs': 'fd00::/8' }, 'IPv6 is not redirected'],
    [{ 'exclude-outbound-cidrs': '10.1.2.3/8' }, '--exclude-outbound-cidrs: "10.1.2.3/8" has host bits set after /8'],
    [{ 'inbound-port': '6191' }, '--inbound-port and --admin-port are both 6191'],
    [{ 'outbound-port': '6143' }, '--inbound-port and --outbound-port are both 6143'],
    [{ 'inbound-ports': '8080,6143' }, "--inbound-ports: includes 6143, meshlet's own inbound port"],
  ] as [RedirectFlags, string][])('rejects %o naming the flag', (flags, message) => {
    const r = redirectSettings(flags);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(message);
  });
});
