// SPDX-License-Identifier: Apache-2.0
// Header lists for meshlet's HTTP/2 engine: the flat [name, value, ...] lists HPACK works on, converted to and from
// the header objects the proxy's layers use (node's IncomingHttpHeaders / OutgoingHttpHeaders shapes), with the
// message checks of RFC 9113 §8.2-8.3 on what arrives.
// A received block is forwarded as the list it was decoded from, never converted back from its object: the engine
// seals the object it hands out (frozen, carrying that list), and changes a layer makes to a request go into
// HeaderEdits, applied to the list when it is sent (headerBlockOf, HeaderEdits.apply).

import { type IncomingHttpHeaders, type OutgoingHttpHeaders, sensitiveHeaders } from 'node:http2';

/** Headers that are connection-specific in HTTP/1.1 and malformed in HTTP/2 (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol']);

/**
 * The prototype of every header object: itself prototype-less, so names like `__proto__` or `constructor` are
 * plain own keys, as with Object.create(null); but objects made from it stay in V8's fast mode, where
 * Object.create(null) objects are dictionaries: building and walking a header object costs ~40 % less (measured:
 * 1.4 → 0.87 µs for a request's decode + re-encode lists).
 */
const HEADERS_PROTO: object = Object.create(null);

/** The decoded block a sealed header object came from (sealReceived). */
const RECEIVED_BLOCK = Symbol('meshlet.receivedBlock');

/** A header block as HPACK encodes it: flat [name, value, ...], pseudo-headers first, and the never-indexed names. */
export class HeaderBlock {
  constructor(
    readonly list: readonly string[],
    readonly neverIndexed: readonly string[] | undefined,
  ) {}
}

/** What the engine sends as a header block: a header object, or a block ready for HPACK. */
export type SendableHeaders = OutgoingHttpHeaders | IncomingHttpHeaders | HeaderBlock;

/**
 * Engine: seals the header object made from a received block. It gets the names the peer sent never-indexed
 * (node's `http2.sensitiveHeaders`, so forwarding keeps them never-indexed: RFC 7541 §7.1.3) and a copy of the
 * decoded list, and is frozen (its arrays of repeated values already are: toHeaderObject): a layer cannot change it
 * (a write throws), so the list still describes it when it is sent on, in the order the fields arrived. `list` and
 * `neverIndexed` are the caller's reused arrays: copied here.
 */
export function sealReceived(headers: IncomingHttpHeaders, list: readonly string[], neverIndexed: readonly string[]): IncomingHttpHeaders {
  const sensitive = neverIndexed.length > 0 ? neverIndexed.slice() : undefined;
  const h = headers as Record<symbol, unknown>;
  if (sensitive !== undefined) h[sensitiveHeaders] = sensitive;
  h[RECEIVED_BLOCK] = new HeaderBlock(list.slice(), sensitive);
  return Object.freeze(headers);
}

/**
 * The block to encode for `headers`: a sealed received object's own list (no conversion), a HeaderBlock as it is,
 * anything else flattened by toHeaderList. A copy of a sealed object (a spread) is not frozen: it is flattened.
 */
export function headerBlockOf(headers: SendableHeaders): HeaderBlock {
  if (headers instanceof HeaderBlock) return headers;
  const received = (headers as Record<symbol, HeaderBlock | undefined>)[RECEIVED_BLOCK];
  if (received !== undefined && Object.isFrozen(headers)) return received;
  return toHeaderList(headers);
}

/**
 * Changes to a received request block, kept apart from the (sealed) object the layers read and applied when the
 * block is sent: the grpc-timeout forward re-emits, the retry count, the trace context. The last change to a name
 * wins. Pseudo-headers cannot be changed: they describe the call every layer routed. (The `HeaderWriter` layers
 * see, src/grpc/call.ts.)
 */
export class HeaderEdits {
  private readonly names: string[] = [];
  /** undefined: the name is deleted. */
  private readonly values: (string | undefined)[] = [];
  private sensitive: string[] | undefined;

  set(name: string, value: string, neverIndex = false): void {
    this.put(name, value);
    if (neverIndex && !(this.sensitive ??= []).includes(name)) this.sensitive.push(name);
  }

  delete(name: string): void {
    this.put(name, undefined);
  }

  /** The value set for `name`: a string, null when it is deleted, undefined when it is not changed. */
  get(name: string): string | null | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : (this.values[i] ?? null);
  }

  private put(name: string, value: string | undefined): void {
    if (name.length === 0 || name.charCodeAt(0) === 58 /* : */ || hasUpperCase(name)) {
      throw new Error(`header edit: "${name}" is not a lower-case regular header name`);
    }
    const i = this.names.indexOf(name);
    if (i >= 0) this.values[i] = value;
    else {
      this.names.push(name);
      this.values.push(value);
    }
  }

  /** `base` with these changes: every field of a changed name dropped, then the values set, after the rest. */
  apply(base: HeaderBlock): HeaderBlock {
    const names = this.names;
    const src = base.list;
    const list: string[] = [];
    for (let i = 0; i < src.length; i += 2) {
      const name = src[i] as string;
      if (!names.includes(name)) list.push(name, src[i + 1] as string);
    }
    for (let i = 0; i < names.length; i++) {
      const value = this.values[i];
      if (value !== undefined) list.push(names[i] as string, value);
    }
    let neverIndexed = base.neverIndexed;
    if (this.sensitive !== undefined) {
      const merged = neverIndexed === undefined ? [] : neverIndexed.slice();
      for (const n of this.sensitive) if (!merged.includes(n)) merged.push(n);
      neverIndexed = merged;
    }
    return new HeaderBlock(list, neverIndexed);
  }
}

/** What kind of header block is being checked. */
export type BlockKind = 'request' | 'response' | 'trailers';

/**
 * Builds a header object from a decoded list. Repeated names become arrays, in order (gRPC metadata may repeat a
 * key; the proxy sends each value again), frozen like the object sealReceived makes of it. Nothing with behaviour is
 * on its prototype chain (HEADERS_PROTO), so names like `__proto__` are plain keys.
 * Returns a string naming the problem instead when the block is malformed (RFC 9113 §8.2.1, §8.3): upper-case
 * names, a pseudo-header after a regular one, an unknown or repeated pseudo-header, a connection-specific header,
 * `te` other than `trailers`, a missing `:method`/`:path`/`:scheme` in a request or `:status` in a response, any
 * pseudo-header in trailers, and a name with a character §8.2.1 forbids. (Values with NUL, CR or LF, or whitespace
 * at either end, §8.2.1, are found by the HPACK decoder as literals arrive: hpack/decoder.ts, guards.ts.)
 */
export function toHeaderObject(list: readonly string[], kind: BlockKind): IncomingHttpHeaders | string {
  const out = Object.create(HEADERS_PROTO) as Record<string, string | string[]>;
  let regularSeen = false;
  /** The arrays of repeated names (rare: allocated only then). */
  let repeated: string[][] | undefined;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    if (name.length === 0) return 'empty header name';
    if (name.charCodeAt(0) === 58 /* : */) {
      if (regularSeen) return `pseudo-header ${name} after a regular header`;
      if (kind === 'trailers') return `pseudo-header ${name} in trailers`;
      if (kind === 'request' ? !REQUEST_PSEUDO.has(name) : name !== ':status') return `unknown pseudo-header ${name}`;
      if (out[name] !== undefined) return `repeated pseudo-header ${name}`;
      out[name] = value;
      continue;
    }
    regularSeen = true;
    const bad = badNameChar(name);
    if (bad !== 0) return bad === 1 ? `upper-case header name "${name}"` : `invalid character in header name "${name}"`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header "${name}"`;
    if (name === 'te' && value !== 'trailers') return `te: ${value} (only "trailers" is allowed)`;
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (typeof existing === 'string') (repeated ??= []).push((out[name] = [existing, value]));
    else existing.push(value);
  }
  if (repeated !== undefined) for (const values of repeated) Object.freeze(values);
  if (kind === 'request') {
    const method = out[':method'];
    if (method === undefined) return 'missing :method';
    if (method !== 'CONNECT' && (out[':scheme'] === undefined || !out[':path'])) return 'missing :scheme or :path';
  } else if (kind === 'response') {
    const status = out[':status'] as string | undefined;
    if (status === undefined || !/^[1-9][0-9][0-9]$/.test(status)) return `missing or invalid :status`;
    // A number, as node:http2 gives it, so code written against either engine reads it the same way.
    (out as Record<string, unknown>)[':status'] = Number(status);
  }
  return out as IncomingHttpHeaders;
}

/** A character §8.2.1 forbids in a field name: 1 for upper case, 2 for 0x00-0x20 or 0x7f-0xff, else 0. One pass. */
function badNameChar(name: string): number {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return 1;
    if (c <= 0x20 || c >= 0x7f) return 2;
  }
  return 0;
}

function hasUpperCase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/**
 * Flattens a header object for HPACK: pseudo-headers first (RFC 9113 §8.3), names lower-cased, numbers as
 * strings, arrays as repeated entries; connection-specific headers (and `te` other than `trailers`) are dropped, as
 * an HTTP/2 intermediary must. Names listed under node's `http2.sensitiveHeaders` symbol are returned in
 * `neverIndexed` so the encoder sends them as never-indexed literals (RFC 7541 §7.1.3).
 */
export function toHeaderList(headers: OutgoingHttpHeaders | IncomingHttpHeaders): HeaderBlock {
  const list: string[] = [];
  let regular: string[] | undefined;
  for (const key in headers) {
    const value = (headers as Record<string, unknown>)[key];
    if (value === undefined || value === null) continue;
    const name = hasUpperCase(key) ? key.toLowerCase() : key;
    let target: string[];
    if (name.charCodeAt(0) === 58 /* : */) {
      target = list;
    } else {
      if (CONNECTION_SPECIFIC.has(name)) continue;
      if (name === 'te' && value !== 'trailers') continue;
      target = regular ??= [];
    }
    if (typeof value === 'string') target.push(name, value);
    else if (Array.isArray(value)) for (const v of value) target.push(name, String(v));
    else target.push(name, String(value));
  }
  if (regular !== undefined) for (let i = 0; i < regular.length; i++) list.push(regular[i] as string);
  const sensitive = (headers as Record<symbol, unknown>)[sensitiveHeaders];
  return new HeaderBlock(list, Array.isArray(sensitive) && sensitive.length > 0 ? (sensitive as string[]) : undefined);
}
