// SPDX-License-Identifier: Apache-2.0
// The `authz` section through the policy loader: a table of invalid documents with the exact issues they produce
// (file:line:column: path: message), the regex subset, and a valid document.
import { describe, expect, it } from 'vitest';
import { regexProblem } from '../../../src/authz/validate.js';
import { formatIssue } from '../../../src/config/errors.js';
import { parsePolicy } from '../../../src/policy/load.js';

const issues = (text: string): string[] => {
  const r = parsePolicy('p.yaml', text);
  return r.ok ? [] : r.errors.map(formatIssue);
};

describe('invalid authz sections', () => {
  const table: Array<[string, string, string[]]> = [
    ['an unknown mode', 'authz:\n  mode: audit\n', ['p.yaml:2:9: authz.mode: expected one of "off"|"shadow"|"enforce"']],
    ['an unknown default action', 'authz:\n  defaultAction: reject\n', ['p.yaml:2:18: authz.defaultAction: expected one of "allow"|"deny"']],
    ['a rule without action', 'authz:\n  rules:\n    - methods: ["a.B/C"]\n', ['p.yaml:3:7: authz.rules[0].action: expected one of "allow"|"deny"']],
    ['a misspelt rule key', 'authz:\n  rules:\n    - action: allow\n      identity: ["spiffe://td/a"]\n', ['p.yaml:4:7: authz.rules[0].identity: unknown key "identity"; allowed here: name, action, methods, identities, unauthenticated, metadata']],
    ['a bad method pattern', 'authz:\n  rules:\n    - action: deny\n      methods: ["Delete"]\n', ['p.yaml:4:17: authz.rules[0].methods[0]: expected pkg.Service/Method, pkg.Service/* or *']],
    ['a bad service name', 'authz:\n  services:\n    "user/v1": { defaultAction: deny }\n', ['p.yaml:3:5: authz.services["user/v1"]: invalid key "user/v1": expected a gRPC service name: pkg.Service']],
    [
      'identity patterns that are not SPIFFE IDs, each reported',
      'authz:\n  rules:\n    - action: allow\n      identities: ["spiffe://td/ns/*", "https://td/a", "spiffe://td/sa-*"]\n',
      [
        'p.yaml:4:40: authz.rules[0].identities[1]: expected spiffe://TRUST-DOMAIN/PATH (a SPIFFE ID pattern)',
        'p.yaml:4:56: authz.rules[0].identities[2]: "sa-*": `*` matches a whole segment only',
      ],
    ],
    ['`**` not last', 'authz:\n  rules:\n    - action: allow\n      identities: ["spiffe://td/**/x"]\n', ['p.yaml:4:20: authz.rules[0].identities[0]: `**` may only be the last segment']],
    [
      'a metadata condition with two tests',
      'authz:\n  rules:\n    - action: deny\n      metadata: [{ name: x-a, equals: "1", present: true }]\n',
      ['p.yaml:4:18: authz.rules[0].metadata[0]: give exactly one of equals, present, regex (found 2)'],
    ],
    ['a metadata condition with no test', 'authz:\n  rules:\n    - action: deny\n      metadata: [{ name: x-a }]\n', ['p.yaml:4:18: authz.rules[0].metadata[0]: give exactly one of equals, present, regex (found 0)']],
    ['an uppercase metadata key', 'authz:\n  rules:\n    - action: deny\n      metadata: [{ name: X-A, present: true }]\n', ['p.yaml:4:26: authz.rules[0].metadata[0].name: expected a lowercase metadata key: a-z 0-9 - _ .']],
    ['a pseudo-header', 'authz:\n  rules:\n    - action: deny\n      metadata: [{ name: ":path", present: true }]\n', ['p.yaml:4:26: authz.rules[0].metadata[0].name: expected a lowercase metadata key: a-z 0-9 - _ .']],
    [
      'a regex that does not compile',
      'authz:\n  rules:\n    - action: deny\n      metadata: [{ name: x-a, regex: "(a" }]\n',
      ['p.yaml:4:38: authz.rules[0].metadata[0].regex: invalid regular expression: Invalid regular expression: /(a/u: Unterminated group'],
    ],
    [
      'a regex with catastrophic backtracking',
      'authz:\n  rules:\n    - action: allow\n      metadata: [{ name: x-a, regex: "(a+)+b" }]\n',
      ['p.yaml:4:38: authz.rules[0].metadata[0].regex: a quantified group may not contain a quantifier or `|` (catastrophic backtracking)'],
    ],
    [
      'two rules with the same name',
      'authz:\n  rules:\n    - { name: r, action: allow }\n    - { name: r, action: deny }\n',
      ['p.yaml:4:15: authz.rules[1].name: name "r" is already used by rules[0]'],
    ],
    ['a rule name unfit for a metric label', 'authz:\n  rules:\n    - { name: "my rule", action: allow }\n', ['p.yaml:3:15: authz.rules[0].name: expected 1-64 characters: letters, digits, - _ . (starting with a letter or digit)']],
    [
      '`unauthenticated: false` alone (it would match every caller)',
      'authz:\n  rules:\n    - { action: allow, unauthenticated: false }\n',
      ['p.yaml:3:41: authz.rules[0].unauthenticated: `unauthenticated: false` alone matches every caller; omit it, or name `identities`'],
    ],
    ['an empty identities list', 'authz:\n  rules:\n    - { action: allow, identities: [] }\n', ['p.yaml:3:24: authz.rules[0].identities: expected array to have >=1 items']],
  ];
  for (const [name, text, want] of table) {
    it(`reports ${name}`, () => {
      expect(issues(text)).toEqual(want);
    });
  }

  it('accepts a full section', () => {
    const text = [
      'authz:',
      '  mode: shadow',
      '  defaultAction: deny',
      '  services:',
      '    user.v1.Users: { defaultAction: allow }',
      '  rules:',
      '    - name: ops',
      '      action: allow',
      '      methods: ["user.v1.Users/*", "a.B/C", "*"]',
      '      identities: ["spiffe://*/ns/ops/**", "spiffe://td/ns/*/sa/x", "spiffe://td"]',
      '      unauthenticated: true',
      '      metadata: [{ name: x-a, equals: "1" }, { name: x-b, present: false }, { name: x-c, regex: "(?:ab|cd)[0-9]+" }]',
      '',
    ].join('\n');
    expect(issues(text)).toEqual([]);
  });
});

describe('regexProblem', () => {
  const ok = ['[a-z0-9-]{1,32}', 'u-\\d+', '(?:ab|cd)[0-9]+', '(?<id>[0-9]+)-x', '(ab){2,4}', 'a+?b', '[(+*]+', '.*@example\\.com', '\\(a+\\)+'];
  const bad: Array<[string, RegExp]> = [
    ['(a+)+', /quantified group/],
    ['(a|aa)*', /quantified group/],
    ['((ab)*c)+', /quantified group/],
    ['(\\w)\\1', /backreferences/],
    ['(?<x>a)\\k<x>', /backreferences/],
    ['a(?=b)', /lookaround/],
    ['(?<!a)b', /lookaround/],
    ['a*b*c*d*', /at most 3 unbounded quantifiers/],
    ['a{2,}b+c*d+', /at most 3 unbounded quantifiers/],
  ];
  for (const r of ok) it(`accepts ${r}`, () => expect(regexProblem(r)).toBeUndefined());
  for (const [r, why] of bad) it(`rejects ${r}`, () => expect(regexProblem(r)).toMatch(why));
});
