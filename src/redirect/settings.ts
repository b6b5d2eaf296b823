// SPDX-License-Identifier: Apache-2.0
// The settings of `meshlet iptables`: the flags as given (strings), validated into one frozen RedirectSettings, or
// the first bad flag named with its value. Pure: no I/O; the CLI (cli.ts) parses argv and prints.

/** The inbound ports to redirect: every TCP port (`'*'`), none (`[]`), or exactly these. */
export type InboundPorts = '*' | readonly number[];

/** What the nat rules are built from (rules.ts). Every port is 1-65535, every CIDR canonical IPv4 `a.b.c.d/n`. */
export interface RedirectSettings {
  /** The UID the sidecar runs as; its traffic is never redirected (no loops). Default 4242 (the image's user). */
  readonly proxyUid: number;
  /** meshlet's inbound listener port; redirected inbound TCP goes here. Default 6143. */
  readonly inboundPort: number;
  /** meshlet's outbound listener port; redirected outbound TCP goes here. Default 6140. */
  readonly outboundPort: number;
  /** meshlet's admin port: never redirected inbound (probes, scrapes). Default 6191. */
  readonly adminPort: number;
  /** Inbound ports to redirect. Default `'*'` (all but 22, the admin port and the excluded ones). */
  readonly inboundPorts: InboundPorts;
  /** Inbound destination ports that bypass meshlet. Default none. */
  readonly excludeInboundPorts: readonly number[];
  /** Outbound destination ports that bypass meshlet. Default none. */
  readonly excludeOutboundPorts: readonly number[];
  /** Outbound destinations that bypass meshlet. Default none. */
  readonly excludeOutboundCidrs: readonly string[];
}

/** The flags as `node:util` parseArgs returns them: strings, absent when not given. */
export interface RedirectFlags {
  readonly 'proxy-uid'?: string;
  readonly 'inbound-port'?: string;
  readonly 'outbound-port'?: string;
  readonly 'admin-port'?: string;
  readonly 'inbound-ports'?: string;
  readonly 'exclude-inbound-ports'?: string;
  readonly 'exclude-outbound-ports'?: string;
  readonly 'exclude-outbound-cidrs'?: string;
}

/** The defaults: the ports the sidecar template and docs/configuration.md use, and the image's UID. */
export const REDIRECT_DEFAULTS: RedirectSettings = Object.freeze({
  proxyUid: 4242,
  inboundPort: 6143,
  outboundPort: 6140,
  adminPort: 6191,
  inboundPorts: '*',
  excludeInboundPorts: Object.freeze([]),
  excludeOutboundPorts: Object.freeze([]),
  excludeOutboundCidrs: Object.freeze([]),
});

/** Valid settings, or the one-line error naming the first bad flag. */
export type SettingsResult = { readonly ok: true; readonly settings: RedirectSettings } | { readonly ok: false; readonly error: string };

/** A bad flag: the message names the flag and the value. */
class FlagError extends Error {}

const DECIMAL = /^[0-9]+$/;

function port(flag: string, text: string): number {
  const n = DECIMAL.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new FlagError(`--${flag}: "${text}" is not a TCP port (1-65535)`);
  return n;
}

/** A comma-separated port list; empty text = none. Duplicates are dropped, order kept. */
function portList(flag: string, text: string): number[] {
  if (text.trim() === '') return [];
  return [...new Set(text.split(',').map((p) => port(flag, p)))];
}

/** `a.b.c.d/n` or `a.b.c.d` (= /32), canonical (host bits cleared would change meaning: they must be zero). */
function cidr(flag: string, text: string): string {
  const t = text.trim();
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(t);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const bits = m?.[5] === undefined ? 32 : Number(m[5]);
  if (!m || octets.some((o) => o > 255) || bits > 32) {
    const v6 = t.includes(':') ? ' (IPv6 is not redirected: meshlet installs IPv4 rules only)' : '';
    throw new FlagError(`--${flag}: "${text}" is not an IPv4 CIDR like 10.0.0.0/8${v6}`);
  }
  const value = octets.reduce((acc, o) => acc * 256 + o, 0);
  const hostBits = value % 2 ** (32 - bits);
  if (hostBits !== 0) throw new FlagError(`--${flag}: "${text}" has host bits set after /${bits}`);
  return `${octets.join('.')}/${bits}`;
}

function cidrList(flag: string, text: string): string[] {
  if (text.trim() === '') return [];
  return [...new Set(text.split(',').map((c) => cidr(flag, c)))];
}

/**
 * Validates `flags` into settings, defaults filled in. Errors name the first bad flag and its value; the listener
 * ports must differ from each other (one socket each in the sidecar).
 */
export function redirectSettings(flags: RedirectFlags): SettingsResult {
  try {
    const d = REDIRECT_DEFAULTS;
    const uidText = flags['proxy-uid'];
    let proxyUid = d.proxyUid;
    if (uidText !== undefined) {
      proxyUid = DECIMAL.test(uidText.trim()) ? Number(uidText.trim()) : NaN;
      if (!(proxyUid >= 0 && proxyUid <= 4294967294)) throw new FlagError(`--proxy-uid: "${uidText}" is not a UID (0-4294967294)`);
    }
    const inboundPort = flags['inbound-port'] === undefined ? d.inboundPort : port('inbound-port', flags['inbound-port']);
    const outboundPort = flags['outbound-port'] === undefined ? d.outboundPort : port('outbound-port', flags['outbound-port']);
    const adminPort = flags['admin-port'] === undefined ? d.adminPort : port('admin-port', flags['admin-port']);
    const named = [['inbound-port', inboundPort], ['outbound-port', outboundPort], ['admin-port', adminPort]] as const;
    for (let i = 0; i < named.length; i++) {
      for (let j = i + 1; j < named.length; j++) {
        if (named[i]![1] === named[j]![1]) {
          throw new FlagError(`--${named[i]![0]} and --${named[j]![0]} are both ${named[i]![1]}: the sidecar needs one port each`);
        }
      }
    }
    const inboundText = flags['inbound-ports'];
    const inboundPorts: InboundPorts =
      inboundText === undefined || inboundText.trim() === '*' ? '*' : Object.freeze(portList('inbound-ports', inboundText));
    if (inboundPorts !== '*' && inboundPorts.includes(inboundPort)) {
      throw new FlagError(`--inbound-ports: includes ${inboundPort}, meshlet's own inbound port (--inbound-port)`);
    }
    return {
      ok: true,
      settings: Object.freeze({
        proxyUid,
        inboundPort,
        outboundPort,
        adminPort,
        inboundPorts,
        excludeInboundPorts: Object.freeze(portList('exclude-inbound-ports', flags['exclude-inbound-ports'] ?? '')),
        excludeOutboundPorts: Object.freeze(portList('exclude-outbound-ports', flags['exclude-outbound-ports'] ?? '')),
        excludeOutboundCidrs: Object.freeze(cidrList('exclude-outbound-cidrs', flags['exclude-outbound-cidrs'] ?? '')),
      }),
    };
  } catch (err) {
    if (err instanceof FlagError) return { ok: false, error: err.message };
    throw err;
  }
}
