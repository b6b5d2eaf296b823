// SPDX-License-Identifier: Apache-2.0
// The nat rules of the traffic redirect, as iptables-restore input: settings → text. Pure; apply.ts runs it with
// `iptables-restore --noflush`, which leaves every other chain alone.
//
// Idempotent by construction: declaring a chain (`:NAME - [0:0]`) under --noflush creates it or flushes it, so
// meshlet's four chains are rebuilt whole on every run; the two jumps into them from PREROUTING and OUTPUT are
// built-in chains, so a jump is written only when the caller found it absent (`iptables -t nat -S`).

import type { RedirectSettings } from './settings.js';

/** meshlet's chains in the nat table (the contract with the injector's init container names them). */
export const CHAINS = ['MESHLET_INBOUND', 'MESHLET_IN_REDIRECT', 'MESHLET_OUTPUT', 'MESHLET_OUT_REDIRECT'] as const;

/** The jump from PREROUTING (traffic arriving at the pod) into meshlet's inbound chain, as `iptables -S` prints it. */
export const INBOUND_JUMP = '-A PREROUTING -p tcp -j MESHLET_INBOUND';
/** The jump from OUTPUT (traffic the pod's processes send) into meshlet's outbound chain, as `iptables -S` prints it. */
export const OUTBOUND_JUMP = '-A OUTPUT -p tcp -j MESHLET_OUTPUT';

/** Which of meshlet's jumps the nat table holds already. */
export interface PresentJumps {
  readonly inbound: boolean;
  readonly outbound: boolean;
}

/** SSH stays reachable when every port is redirected (Istio and Linkerd skip it too). */
const SSH_PORT = 22;

/** The inbound rules: RETURN for what bypasses meshlet, then the ports that go to it. Empty when nothing is redirected. */
function inboundRules(s: RedirectSettings): string[] {
  if (s.inboundPorts !== '*' && s.inboundPorts.length === 0) return [];
  const bypass = [...new Set([...(s.inboundPorts === '*' ? [SSH_PORT] : []), s.adminPort, ...s.excludeInboundPorts])];
  const rules = bypass.map((p) => `-A MESHLET_INBOUND -p tcp -m tcp --dport ${p} -j RETURN`);
  if (s.inboundPorts === '*') rules.push('-A MESHLET_INBOUND -p tcp -j MESHLET_IN_REDIRECT');
  else for (const p of s.inboundPorts) rules.push(`-A MESHLET_INBOUND -p tcp -m tcp --dport ${p} -j MESHLET_IN_REDIRECT`);
  rules.push(`-A MESHLET_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${s.inboundPort}`);
  return rules;
}

/** The outbound rules: meshlet's own traffic, loopback and the exclusions RETURN; the rest goes to meshlet outbound. */
function outboundRules(s: RedirectSettings): string[] {
  return [
    // The sidecar's own connections (to upstreams, to the app) are never redirected: that would loop.
    `-A MESHLET_OUTPUT -m owner --uid-owner ${s.proxyUid} -j RETURN`,
    // Loopback: the app reaching its sidecar or itself; `-o lo` also covers the pod's own IP, routed over lo.
    '-A MESHLET_OUTPUT -o lo -j RETURN',
    '-A MESHLET_OUTPUT -d 127.0.0.0/8 -j RETURN',
    ...s.excludeOutboundCidrs.map((c) => `-A MESHLET_OUTPUT -d ${c} -j RETURN`),
    ...s.excludeOutboundPorts.map((p) => `-A MESHLET_OUTPUT -p tcp -m tcp --dport ${p} -j RETURN`),
    '-A MESHLET_OUTPUT -p tcp -j MESHLET_OUT_REDIRECT',
    `-A MESHLET_OUT_REDIRECT -p tcp -j REDIRECT --to-ports ${s.outboundPort}`,
  ];
}

/**
 * The iptables-restore input (for `--noflush`) that installs the redirect of `s`: meshlet's chains rebuilt, and
 * each jump appended unless `present` says the table has it. With no inbound ports, MESHLET_INBOUND and
 * MESHLET_IN_REDIRECT exist but are empty and no PREROUTING jump is added (an existing one then leads nowhere).
 */
export function redirectRules(s: RedirectSettings, present: PresentJumps): string {
  const inbound = inboundRules(s);
  const lines = [
    '*nat',
    ...CHAINS.map((c) => `:${c} - [0:0]`),
    ...inbound,
    ...outboundRules(s),
    ...(inbound.length > 0 && !present.inbound ? [INBOUND_JUMP] : []),
    ...(!present.outbound ? [OUTBOUND_JUMP] : []),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The jumps into meshlet's chains among `ruleLines` (`iptables -t nat -S` output of PREROUTING and OUTPUT), whatever
 * their matches: cleanup must also remove jumps an older version wrote.
 */
export function meshletJumps(ruleLines: readonly string[]): string[] {
  const chains = new Set<string>(CHAINS);
  return ruleLines.filter((line) => {
    const m = /^-A (PREROUTING|OUTPUT) .*-j (\S+)$/.exec(line.trim());
    return m !== null && chains.has(m[2]!);
  });
}

/**
 * The iptables-restore input (for `--noflush`) that removes the redirect: `jumps` (from {@link meshletJumps})
 * deleted, then meshlet's chains flushed and deleted. Declaring a chain creates it when absent, so this runs on
 * any state, a clean table included.
 */
export function cleanupRules(jumps: readonly string[]): string {
  const lines = [
    '*nat',
    ...CHAINS.map((c) => `:${c} - [0:0]`),
    ...jumps.map((j) => j.trim().replace(/^-A /, '-D ')),
    ...CHAINS.map((c) => `-X ${c}`),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/** The state `--dry-run` assumes to install into: a table without meshlet's jumps. */
export const DRY_RUN_APPLY_STATE: PresentJumps = Object.freeze({ inbound: false, outbound: false });
/** The jumps `--cleanup --dry-run` assumes to remove: both, as meshlet installs them. */
export const DRY_RUN_CLEANUP_JUMPS: readonly string[] = Object.freeze([INBOUND_JUMP, OUTBOUND_JUMP]);
