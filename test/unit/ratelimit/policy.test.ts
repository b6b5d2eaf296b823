// SPDX-License-Identifier: Apache-2.0
// The policy's `rateLimits` section: invalid limits are reported at file:line:column with their path, valid ones
// load.
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../../src/config/errors.js';
import { parsePolicy } from '../../../src/policy/load.js';

const issues = (text: string): string[] => {
  const r = parsePolicy('p.yaml', text);
  return r.ok ? [] : r.errors.map(formatIssue);
};

describe('invalid rate limits', () => {
  const table: Array<[string, string, string[]]> = [
    ['a rate with an unknown unit', 'rateLimits:\n  - name: a\n    rate: 100/x\n', ['p.yaml:3:11: rateLimits[0].rate: expected <calls>/<unit>, unit s, m or h, e.g. 100/s']],
    ['a negative burst', 'rateLimits:\n  - name: a\n    rate: 10/s\n    burst: -5\n', ['p.yaml:4:12: rateLimits[0].burst: expected number to be >=1']],
    [
      'an unknown descriptor',
      'rateLimits:\n  - name: a\n    rate: 10/s\n    by: [caller, tenant]\n',
      ['p.yaml:4:18: rateLimits[0].by[1]: expected caller, method or header:<lowercase-name>'],
    ],
    [
      'two limits with one name',
      'rateLimits:\n  - name: a\n    rate: 10/s\n  - name: a\n    rate: 1/s\n',
      ['p.yaml:4:11: rateLimits[1].name: name "a" is already used by rateLimits[0]'],
    ],
    [
      'a backend on an inbound limit',
      'rateLimits:\n  - name: a\n    rate: 10/s\n    match: { backend: users }\n',
      ['p.yaml:4:23: rateLimits[0].match.backend: an inbound limit counts calls to this service: match.backend needs `direction: outbound`'],
    ],
    [
      'failureMode on a local limit',
      'rateLimits:\n  - name: a\n    rate: 10/s\n    failureMode: closed\n',
      ['p.yaml:4:18: rateLimits[0].failureMode: failureMode applies to `scope: global` only (a local limit never depends on Redis)'],
    ],
    [
      'callerHeader without a caller descriptor',
      'rateLimits:\n  - name: a\n    rate: 10/s\n    callerHeader: x-caller\n',
      ['p.yaml:4:19: rateLimits[0].callerHeader: callerHeader is read only for a `caller` descriptor: add caller to `by`'],
    ],
    ['a missing rate', 'rateLimits:\n  - name: a\n', ['p.yaml:2:5: rateLimits[0].rate: missing required key "rate"']],
  ];
  it.each(table)('%s', (_what, text, expected) => {
    expect(issues(text)).toEqual(expected);
  });
});

describe('valid rate limits', () => {
  it('loads inbound, outbound, local and global limits', () => {
    const text = [
      'rateLimits:',
      '  - name: per-caller',
      '    match: { method: "a.v1.A/*" }',
      '    rate: 100/s',
      '    burst: 20',
      '    by: [caller]',
      '    callerHeader: x-caller',
      '  - name: users-global',
      '    direction: outbound',
      '    match: { backend: users }',
      '    rate: 6000/m',
      '    scope: global',
      '    failureMode: closed',
      '    by: ["header:x-tenant", method]',
      '    mode: shadow',
      '',
    ].join('\n');
    expect(issues(text)).toEqual([]);
  });
});
