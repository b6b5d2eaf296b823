// SPDX-License-Identifier: Apache-2.0
// Policy loading: a table of invalid documents with the exact issues they produce (file:line:column: path:
// message), cross-field rules included, plus the valid shapes and the committed example.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../../src/config/errors.js';
import { staticSource } from '../../../src/config/source.js';
import { loadPolicy, parsePolicy } from '../../../src/policy/load.js';

const issues = (text: string): string[] => {
  const r = parsePolicy('p.yaml', text);
  return r.ok ? [] : r.errors.map(formatIssue);
};

describe('invalid policy documents', () => {
  const table: Array<[string, string, string[]]> = [
    ['an empty document (a file truncated mid-write is never "no policy")', '', ['p.yaml:1:1: the policy document is empty; write `routes: []` for a policy with only built-in defaults']],
    ['broken YAML', 'routes: [\n', ['p.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]']],
    [
      'a key between two indentation levels in a route (issue 11)',
      'routes:\n  - match: { backend: a }\n    timeoutMs: 5\n  - match:\n      backend: b\n     method: x.Y/Z\n',
      ['p.yaml:6:6: routes[1].match.method: bad indentation: "method" is at column 6, but the keys under "match" are at column 7, "match" itself at column 5'],
    ],
    ['an unknown mode', 'defaults:\n  retry:\n    mode: sometimes\n', ['p.yaml:3:11: defaults.retry.mode: expected one of "off"|"shadow"|"enforce"']],
    ['a misspelt key, with a suggestion', 'defaults:\n  retri: {}\n', ['p.yaml:2:3: defaults.retri: unknown key "retri" (did you mean "retry"?)']],
    [
      'a per-backend protection on a route',
      'routes:\n  - match: { backend: a }\n    limits: { mode: enforce }\n',
      ['p.yaml:3:5: routes[0].limits: unknown key "limits"; allowed here: name, match, timeoutMs, unaryTimeoutMs, idleTimeoutMs, retry'],
    ],
    ['a method without its service', 'routes:\n  - match: { method: "GetUser" }\n    timeoutMs: 100\n', ['p.yaml:2:22: routes[0].match.method: expected pkg.Service/Method, pkg.Service/* or *']],
    ['a route without match', 'routes:\n  - timeoutMs: 1\n', ['p.yaml:2:5: routes[0].match: missing required key "match"']],
    ['a route that sets nothing', 'routes:\n  - match: { backend: a }\n', ['p.yaml:2:5: routes[0]: the route sets nothing: give it timeoutMs, unaryTimeoutMs, idleTimeoutMs or retry']],
    [
      'two routes with the same match',
      'routes:\n  - match: { method: "a.v1.A/Get" }\n    timeoutMs: 100\n  - match: { method: "a.v1.A/Get" }\n    timeoutMs: 200\n',
      ['p.yaml:4:5: routes[1].match: same match as routes[0]; only the first could ever apply'],
    ],
    [
      'two routes with the same name',
      'routes:\n  - name: x\n    match: {}\n    timeoutMs: 1\n  - name: x\n    match: { method: "a.B/*" }\n    timeoutMs: 1\n',
      ['p.yaml:5:11: routes[1].name: name "x" is already used by routes[0]'],
    ],
    [
      'an unknown retryOn status',
      'defaults:\n  retry:\n    retryOn: [unavailable, flaky]\n',
      [expect.stringMatching(/^p\.yaml:3:28: defaults\.retry\.retryOn\[1\]: expected one of "cancelled"\|.*"unavailable"/) as unknown as string],
    ],
    [
      'values out of range, all reported at once',
      'defaults:\n  timeoutMs: -1\n  limits: { maxConcurrentRequests: 0 }\n  circuitBreaker: { failureRatePercent: 100 }\n',
      [
        'p.yaml:2:14: defaults.timeoutMs: expected number to be >=0',
        'p.yaml:3:36: defaults.limits.maxConcurrentRequests: expected number to be >=1',
        'p.yaml:4:41: defaults.circuitBreaker.failureRatePercent: expected number to be <=99',
      ],
    ],
    [
      'stream timeouts out of range or not whole milliseconds (issue 14)',
      'defaults:\n  unaryTimeoutMs: -1\n  idleTimeoutMs: 1.5\nroutes:\n  - match: { method: "w.Watch/*" }\n    idleTimeoutMs: 86400001\n    unaryTimeoutMs: "15s"\n',
      [
        'p.yaml:2:19: defaults.unaryTimeoutMs: expected number to be >=0',
        'p.yaml:3:18: defaults.idleTimeoutMs: expected int, received number',
        'p.yaml:6:20: routes[0].idleTimeoutMs: expected number to be <=86400000',
        'p.yaml:7:21: routes[0].unaryTimeoutMs: expected number, received string',
      ],
    ],
    ['an invalid backend name', 'backends:\n  "bad name": {}\n', ['p.yaml:2:3: backends["bad name"]: invalid key "bad name": expected letters, digits, - _ . (starting with a letter or digit)']],
    [
      'a backoff whose cap is below its base across layers (reported where each layer breaks it)',
      'defaults:\n  retry:\n    backoff: { maxMs: 10 }\nroutes:\n  - match: { backend: a }\n    retry: { backoff: { baseMs: 50 } }\n',
      ['p.yaml:3:23: defaults.retry.backoff.maxMs: backoff maxMs 10 is below baseMs 25', 'p.yaml:6:33: routes[0].retry.backoff.baseMs: backoff maxMs 10 is below baseMs 50'],
    ],
    [
      'an ejection cap below the base penalty',
      'defaults:\n  outlierDetection: { baseEjectionMs: 5000, maxEjectionMs: 1000 }\n',
      ['p.yaml:2:60: defaults.outlierDetection.maxEjectionMs: maxEjectionMs 1000 is below baseEjectionMs 5000'],
    ],
    [
      'a breaker that needs more calls than its window holds',
      'backends:\n  a:\n    circuitBreaker: { windowCalls: 10, minimumCalls: 20 }\n',
      ['p.yaml:3:54: backends.a.circuitBreaker.minimumCalls: minimumCalls 20 exceeds windowCalls 10'],
    ],
    [
      'a per-try timeout that leaves no room for a retry',
      'routes:\n  - match: { backend: a }\n    timeoutMs: 100\n    retry: { perTryTimeoutMs: 100 }\n',
      ['p.yaml:4:31: routes[0].retry.perTryTimeoutMs: perTryTimeoutMs 100 is not below the route timeout 100: no retry could ever start'],
    ],
    [
      'a per-try timeout against a backend timeout set elsewhere',
      'backends:\n  a:\n    timeoutMs: 50\nroutes:\n  - match: { backend: a, method: "x.Y/*" }\n    retry: { perTryTimeoutMs: 80 }\n',
      ['p.yaml:6:31: routes[0].retry.perTryTimeoutMs: perTryTimeoutMs 80 is not below the route timeout 50: no retry could ever start'],
    ],
    ['duplicate keys', 'defaults:\n  timeoutMs: 1\n  timeoutMs: 2\n', ['p.yaml:3:3: defaults.timeoutMs: duplicate key "timeoutMs" (first defined on line 2)']],
  ];
  it.each(table)('%s', (_what, text, expected) => {
    expect(issues(text)).toEqual(expected);
  });
});

describe('valid policy documents', () => {
  it('accepts an empty route list, and keeps the document as written (no defaults filled in)', () => {
    const r = parsePolicy('p.yaml', 'routes: []\n');
    expect(r).toEqual({ ok: true, config: { routes: [] } });
  });

  it('returns a deep-frozen policy', () => {
    const r = parsePolicy('p.yaml', 'defaults:\n  retry: { retryOn: [unavailable] }\n');
    if (!r.ok) throw new Error('expected a valid policy');
    expect(Object.isFrozen(r.config.defaults?.retry?.retryOn)).toBe(true);
  });

  it('the committed example config/policy.yaml is valid', async () => {
    const text = await readFile(new URL('../../../config/policy.yaml', import.meta.url), 'utf8');
    const r = await loadPolicy(staticSource('config/policy.yaml', text));
    expect(r.ok ? [] : r.errors.map(formatIssue)).toEqual([]);
  });

  it('reports an unreadable file as one issue instead of throwing', async () => {
    const r = await loadPolicy({ name: 'gone.yaml', read: () => Promise.reject(new Error('ENOENT')) });
    expect(r.ok ? [] : r.errors.map(formatIssue)).toEqual(['gone.yaml: cannot read: ENOENT']);
  });
});
