// SPDX-License-Identifier: Apache-2.0
// Issue formatting (paths and the compiler-style line) and "did you mean" suggestions.

import { describe, expect, it } from 'vitest';
import { formatIssue, formatPath } from '../../../src/config/errors.js';
import { closest, editDistance } from '../../../src/config/suggest.js';

describe('formatIssue', () => {
  it('prints file:line:column: path: message', () => {
    expect(formatIssue({ file: 'sidecar.yaml', line: 3, column: 5, path: 'inbound.app', message: 'bad' })).toBe(
      'sidecar.yaml:3:5: inbound.app: bad',
    );
  });

  it('leaves out a missing position and an empty path', () => {
    expect(formatIssue({ file: 'MESHLET_ADMIN_LISTEN', line: 0, column: 0, path: 'admin.listen', message: 'bad' })).toBe(
      'MESHLET_ADMIN_LISTEN: admin.listen: bad',
    );
    expect(formatIssue({ file: 'sidecar.yaml', line: 1, column: 1, path: '', message: 'empty' })).toBe(
      'sidecar.yaml:1:1: empty',
    );
  });
});

describe('formatPath', () => {
  it('joins keys with dots and indexes with brackets, quoting keys that are not plain words', () => {
    expect(formatPath(['upstreams', 'user-service', 'endpoints', 0])).toBe('upstreams.user-service.endpoints[0]');
    expect(formatPath(['upstreams', 'user.svc', 'balancing'])).toBe('upstreams["user.svc"].balancing');
    expect(formatPath([])).toBe('');
  });
});

describe('closest', () => {
  const keys = ['listen', 'app', 'hashHeader', 'ringSize', 'maxSessionsPerEndpoint', 'log'];

  it('suggests a name one or two edits away', () => {
    expect(closest('listn', keys)).toBe('listen');
    expect(closest('ringsise', keys)).toBe('ringSize');
    expect(closest('ap', keys)).toBe('app');
  });

  it('ignores case, dashes and underscores', () => {
    expect(closest('hash_header', keys)).toBe('hashHeader');
    expect(closest('RING-SIZE', keys)).toBe('ringSize');
  });

  it('suggests a name the typo is a prefix of, or that is a prefix of the typo', () => {
    expect(closest('maxSessions', keys)).toBe('maxSessionsPerEndpoint');
    expect(closest('logging', keys)).toBe('log');
  });

  it('suggests nothing for a name far from every candidate', () => {
    expect(closest('tracing', keys)).toBeUndefined();
    expect(closest('x', keys)).toBeUndefined();
  });

  it('computes Levenshtein distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});
