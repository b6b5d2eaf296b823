// SPDX-License-Identifier: Apache-2.0
// The usage text of `meshlet iptables`, apart from the command so `meshlet --help` loads none of it.

/** Usage of `meshlet iptables`, also shown by `meshlet --help`. */
export const IPTABLES_USAGE = `  meshlet iptables [--proxy-uid UID] [--inbound-port P] [--outbound-port P] [--admin-port P]
                   [--inbound-ports '*'|P,P,...|''] [--exclude-inbound-ports P,P]
                   [--exclude-outbound-ports P,P] [--exclude-outbound-cidrs CIDR,CIDR] [--dry-run] [--cleanup]
                                      Install the pod's traffic redirect (nat rules in meshlet's own chains):
                                      inbound TCP to the app's ports → meshlet inbound, the app's outbound TCP →
                                      meshlet outbound; the proxy UID's own traffic never. Idempotent. --dry-run
                                      prints the iptables-restore input; --cleanup removes the chains and jumps.
                                      Defaults: UID 4242, ports 6143/6140/6191, every inbound port (see
                                      docs/traffic-redirect.md).`;
