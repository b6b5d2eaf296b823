// SPDX-License-Identifier: Apache-2.0
// Which request attributes key a limit's bucket (Envoy's rate-limit descriptors): the caller (verified mTLS SPIFFE
// ID, else a configured header), the method, a header value, or nothing (one bucket for the whole route). Pure.

/** The attributes of a call the descriptors read. */
export interface CallAttributes {
  /** `/pkg.Service/Method`. */
  readonly path: string;
  /** The verified SPIFFE ID of the peer (mTLS); undefined without one. */
  readonly identity: string | undefined;
  /** Request metadata, lowercase keys. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type Descriptor = { readonly kind: 'caller' } | { readonly kind: 'method' } | { readonly kind: 'header'; readonly name: string };

/** Longest descriptor value kept in a key (characters); longer header values are cut, so a key stays bounded. */
export const MAX_VALUE_CHARS = 256;
/** The value of an absent caller or header: such calls share one bucket. */
export const ABSENT = '-';

/** Parses `caller`, `method` or `header:<name>` (the schema has checked the form). */
export function parseDescriptor(text: string): Descriptor {
  if (text === 'caller') return { kind: 'caller' };
  if (text === 'method') return { kind: 'method' };
  if (text.startsWith('header:')) return { kind: 'header', name: text.slice('header:'.length) };
  throw new Error(`invariant: unknown rate-limit descriptor ${text}`);
}

/** The caller of a call: its verified identity, else the `callerHeader` value, else ABSENT. */
export function callerOf(call: CallAttributes, callerHeader: string | undefined): string {
  if (call.identity !== undefined) return call.identity;
  if (callerHeader !== undefined) return headerValue(call, callerHeader);
  return ABSENT;
}

/**
 * The bucket key of `call` under `descriptors`: the values joined by a separator that cannot occur in them
 * unescaped (`\u0000`). Empty descriptors: '' (one bucket).
 */
export function descriptorKey(descriptors: readonly Descriptor[], call: CallAttributes, callerHeader: string | undefined): string {
  if (descriptors.length === 0) return '';
  let key = '';
  for (let i = 0; i < descriptors.length; i++) {
    const d = descriptors[i] as Descriptor;
    const v = d.kind === 'caller' ? callerOf(call, callerHeader) : d.kind === 'method' ? call.path : headerValue(call, d.name);
    key += (i === 0 ? '' : '\u0000') + v.replaceAll('\u0000', '');
  }
  return key;
}

function headerValue(call: CallAttributes, name: string): string {
  const raw = call.headers[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === '') return ABSENT;
  return v.length > MAX_VALUE_CHARS ? v.slice(0, MAX_VALUE_CHARS) : v;
}
