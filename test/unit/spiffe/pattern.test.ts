// SPDX-License-Identifier: Apache-2.0
// SPIFFE ID patterns of authz rules: a table of pattern × ID → match, and the patterns the parser refuses.
import { describe, expect, it } from 'vitest';
import { matchIdentity, parseIdentityPattern, type IdentityPattern } from '../../../src/spiffe/pattern.js';

function pattern(text: string): IdentityPattern {
  const p = parseIdentityPattern(text);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

describe('matchIdentity', () => {
  const table: Array<[string, string, boolean]> = [
    ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a/sa/b', true],
    ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a/sa/bc', false],
    ['spiffe://td/ns/a/sa/b', 'spiffe://other/ns/a/sa/b', false],
    ['spiffe://td/ns/*/sa/b', 'spiffe://td/ns/x/sa/b', true],
    ['spiffe://td/ns/*/sa/b', 'spiffe://td/ns/x/y/sa/b', false], // * is exactly one segment
    ['spiffe://td/ns/*/sa/b', 'spiffe://td/ns//sa/b', false], // never an empty one
    ['spiffe://td/ns/*', 'spiffe://td/ns', false],
    ['spiffe://td/ns/**', 'spiffe://td/ns/a', true],
    ['spiffe://td/ns/**', 'spiffe://td/ns/a/b/c', true],
    ['spiffe://td/ns/**', 'spiffe://td/ns', false], // one or more segments
    ['spiffe://td/ns/**', 'spiffe://td/ns/', false],
    ['spiffe://td/ns/**', 'spiffe://td/nsx/a', false],
    ['spiffe://*/ns/a', 'spiffe://any.domain/ns/a', true],
    ['spiffe://*/ns/a', 'spiffe:///ns/a', false],
    ['spiffe://*/**', 'spiffe://td/x', true],
    ['spiffe://td', 'spiffe://td', true],
    ['spiffe://td', 'spiffe://td/a', false],
    ['spiffe://*/a', 'http://td/a', false],
    ['spiffe://td/A', 'spiffe://td/a', false], // paths are case-sensitive
  ];
  for (const [p, id, want] of table) {
    it(`${p} ${want ? 'matches' : 'does not match'} ${id}`, () => {
      expect(matchIdentity(pattern(p), id)).toBe(want);
    });
  }
});

describe('parseIdentityPattern', () => {
  const bad: Array<[string, RegExp]> = [
    ['https://td/a', /expected spiffe:\/\//],
    ['spiffe://TD/a', /invalid trust domain "TD"/],
    ['spiffe:///a', /invalid trust domain ""/],
    ['spiffe://td/a//b', /empty, "\." or "\.\." path segment/],
    ['spiffe://td/../b', /empty, "\." or "\.\." path segment/],
    ['spiffe://td/sa-*', /matches a whole segment only/],
    ['spiffe://td/**/a', /`\*\*` may only be the last segment/],
    ['spiffe://td/a?b', /invalid path segment "a\?b"/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${text}`, () => {
      expect(parseIdentityPattern(text)).toMatch(message);
    });
  }

  it('marks patterns without wildcards as exact', () => {
    expect(pattern('spiffe://td/a/b').exact).toBe(true);
    expect(pattern('spiffe://td/a/*').exact).toBe(false);
    expect(pattern('spiffe://*/a').exact).toBe(false);
  });
});

describe('matchIdentity: more cases (trust domain wildcard, case, bare trust domain)', () => {
  it.each([
    ['spiffe://td/ns/shop/sa/web', 'spiffe://td/ns/shop/sa/web', true],
    ['spiffe://td/ns/shop/sa/web', 'spiffe://td/ns/*/sa/web', true],
    ['spiffe://td/ns/shop/sa/web', 'spiffe://td/ns/*/sa/api', false],
    ['spiffe://td/ns/shop/sa/web', 'spiffe://td/ns/*', false],
    ['spiffe://td/ns/shop/sa/web', 'spiffe://td/ns/shop/**', true],
    ['spiffe://td/ns/shop', 'spiffe://td/ns/shop/**', false],
    ['spiffe://td/ns/shop/x', 'spiffe://td/ns/shop/**', true],
    ['spiffe://other/ns/shop/x', 'spiffe://td/ns/shop/**', false],
    ['spiffe://other/ns/shop/x', 'spiffe://*/ns/shop/**', true],
    ['spiffe://td/svc/a', 'spiffe://td/**', true],
    ['spiffe://td/svc/a', 'spiffe://td/svc/A', false],
    ['spiffe://td/svc/a', 'spiffe://*', false],
  ])('%s against %s → %s', (id, pattern, expected) => {
    const p = parseIdentityPattern(pattern);
    if (typeof p === 'string') throw new Error(p);
    expect(matchIdentity(p, id)).toBe(expected);
  });

  it('rejects a trust domain that is only partly a wildcard', () => {
    expect(parseIdentityPattern('spiffe://t*/x')).toMatch(/invalid trust domain "t\*"/);
  });
});
