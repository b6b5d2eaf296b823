// SPDX-License-Identifier: Apache-2.0
// `host:port` addresses as the config writes them (listeners, endpoints, the admin server): one parser for all.

/** Splits `host:port` / `[v6]:port` into the host (brackets removed) and the port. */
export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(address.slice(i + 1)) };
}
