// SPDX-License-Identifier: Apache-2.0
// SPIFFE ID patterns (pure, a leaf), the one matcher for authz rules and for the identities expected of upstreams:
// `spiffe://TRUST-DOMAIN/SEG/SEG...` where the trust domain may be `*`, a path segment `*` matches exactly one
// segment and a trailing `/**` matches one or more segments; anything else matches exactly. Matching scans the ID
// in place: no allocation per call.

const SCHEME = 'spiffe://';
/** SPIFFE ID spec §2.1: trust domain characters (lowercase letters, digits, `.`, `-`, `_`). */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
/** SPIFFE ID spec §2.2: path segment characters (letters, digits, `.`, `-`, `_`). */
const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** A parsed pattern. `trustDomain` undefined = any; `segments` entries undefined = any one segment. */
export interface IdentityPattern {
  readonly text: string;
  readonly trustDomain: string | undefined;
  readonly segments: readonly (string | undefined)[];
  /** A trailing `/**`: one or more further segments of any value. */
  readonly rest: boolean;
  /** True when the pattern has no wildcard (then `text` is the one ID it matches). */
  readonly exact: boolean;
}

/**
 * Parses a pattern; returns an error message (for the config issue) when it is not one. Rejected: another scheme,
 * an empty or invalid trust domain, empty, `.` or `..` segments, `*` inside a segment (`sa-*`), `**` anywhere but
 * the last segment, a query or fragment.
 */
export function parseIdentityPattern(text: string): IdentityPattern | string {
  if (!text.startsWith(SCHEME)) return 'expected spiffe://TRUST-DOMAIN/PATH (a SPIFFE ID pattern)';
  const body = text.slice(SCHEME.length);
  const slash = body.indexOf('/');
  const td = slash < 0 ? body : body.slice(0, slash);
  if (td !== '*' && !TRUST_DOMAIN.test(td)) return `invalid trust domain "${td}": lowercase letters, digits, . - _ or *`;
  const parts = slash < 0 ? [] : body.slice(slash + 1).split('/');
  const segments: (string | undefined)[] = [];
  let rest = false;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (p === '**') {
      if (i !== parts.length - 1) return '`**` may only be the last segment';
      rest = true;
    } else if (p === '*') segments.push(undefined);
    else if (p === '' || p === '.' || p === '..') return `empty, "." or ".." path segment in "${text}"`;
    else if (p.includes('*')) return `"${p}": \`*\` matches a whole segment only`;
    else if (!SEGMENT.test(p)) return `invalid path segment "${p}": letters, digits, . - _`;
    else segments.push(p);
  }
  const exact = td !== '*' && !rest && segments.every((s) => s !== undefined);
  return { text, trustDomain: td === '*' ? undefined : td, segments, rest, exact };
}

/** True when `id` (a verified SPIFFE ID) matches `p`. Never allocates. */
export function matchIdentity(p: IdentityPattern, id: string): boolean {
  if (p.exact) return id === p.text;
  if (!id.startsWith(SCHEME)) return false;
  let pos = SCHEME.length;
  let end = id.indexOf('/', pos);
  if (end < 0) end = id.length;
  if (p.trustDomain !== undefined && (end - pos !== p.trustDomain.length || !id.startsWith(p.trustDomain, pos))) return false;
  if (end === pos) return false; // empty trust domain
  pos = end;
  for (const seg of p.segments) {
    // pos is at a '/' (or the end of the ID: too few segments).
    if (pos >= id.length) return false;
    const start = pos + 1;
    end = id.indexOf('/', start);
    if (end < 0) end = id.length;
    if (end === start) return false; // empty segment
    if (seg !== undefined && (end - start !== seg.length || !id.startsWith(seg, start))) return false;
    pos = end;
  }
  // `/**` needs at least one more non-empty segment; otherwise the ID must end here.
  if (!p.rest) return pos === id.length;
  return pos < id.length - 1;
}
