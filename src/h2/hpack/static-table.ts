// SPDX-License-Identifier: Apache-2.0
// The HPACK static table (RFC 7541 Appendix A): 61 fixed entries, shared by the decoder and the encoder.

/** Number of entries in the static table; dynamic table indices start at `STATIC_TABLE_LENGTH + 1`. */
export const STATIC_TABLE_LENGTH = 61;

/** Static table names; index 0 is unused so `STATIC_NAMES[i]` is HPACK index `i` (1..61). */
export const STATIC_NAMES: readonly string[] = [
  '', ':authority', ':method', ':method', ':path', ':path', ':scheme', ':scheme', ':status', ':status', ':status',
  ':status', ':status', ':status', ':status', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges',
  'accept', 'access-control-allow-origin', 'age', 'allow', 'authorization', 'cache-control', 'content-disposition',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-range', 'content-type',
  'cookie', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'link', 'location', 'max-forwards', 'proxy-authenticate',
  'proxy-authorization', 'range', 'referer', 'refresh', 'retry-after', 'server', 'set-cookie',
  'strict-transport-security', 'transfer-encoding', 'user-agent', 'vary', 'via', 'www-authenticate',
];

/** Static table values, indexed like {@link STATIC_NAMES} ('' for entries without a value). */
export const STATIC_VALUES: readonly string[] = [
  '', '', 'GET', 'POST', '/', '/index.html', 'http', 'https', '200', '204', '206', '304', '400', '404', '500', '',
  'gzip, deflate', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '',
  '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '',
];

/** Encoder lookup for one static name: its lowest index, and the index of each (name, value) pair it has. */
export interface StaticNameEntry {
  readonly nameIndex: number;
  readonly values: ReadonlyMap<string, number>;
}

/** name -> lowest static index and exact (name, value) indices. Nested maps, so lookups build no key strings. */
export const STATIC_BY_NAME: ReadonlyMap<string, StaticNameEntry> = buildIndex();

function buildIndex(): Map<string, StaticNameEntry> {
  const byName = new Map<string, { nameIndex: number; values: Map<string, number> }>();
  for (let i = 1; i <= STATIC_TABLE_LENGTH; i++) {
    const name = STATIC_NAMES[i] as string;
    const value = STATIC_VALUES[i] as string;
    let e = byName.get(name);
    if (e === undefined) {
      e = { nameIndex: i, values: new Map() };
      byName.set(name, e);
    }
    if (!e.values.has(value)) e.values.set(value, i);
  }
  return byName;
}
