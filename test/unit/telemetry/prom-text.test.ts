// SPDX-License-Identifier: Apache-2.0
// The test helper that parses Prometheus text: it must accept what the format allows and reject what it forbids,
// or the metrics assertions built on it prove nothing.

import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../../helpers/prom-text.js';

describe('parsePrometheusText', () => {
  it('reads families, escaped label values, special values and timestamps', () => {
    const p = parsePrometheusText(
      [
        '# HELP http_requests_total The total number of HTTP requests.\\nSecond line.',
        '# TYPE http_requests_total counter',
        'http_requests_total{method="post",code="200"} 1027 1395066363000',
        'http_requests_total{method="post",code="400"}    3 1395066363000',
        '# a free comment',
        'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
        'metric_without_timestamp_and_labels 12.47',
        'something_weird{problem="division by zero"} +Inf -3982045',
        '# TYPE h histogram',
        'h_bucket{le="0.1"} 1',
        'h_bucket{le="+Inf"} 2',
        'h_sum 0.3',
        'h_count 2',
        '',
      ].join('\n'),
    );
    expect(p.families.get('http_requests_total')?.help).toBe('The total number of HTTP requests.\nSecond line.');
    expect(p.value('http_requests_total', { method: 'post', code: '400' })).toBe(3);
    expect(p.sum('http_requests_total', { method: 'post' })).toBe(1030);
    expect(p.value('msdos_file_access_time_seconds', { path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' })).toBe(1.458255915e9);
    expect(p.value('something_weird', { problem: 'division by zero' })).toBe(Infinity);
    expect(p.value('h_count')).toBe(2);
    expect(p.value('h_bucket', { le: '+Inf' })).toBe(2);
    expect(p.value('http_requests_total', { method: 'post' })).toBeUndefined(); // exact label sets only
  });

  it.each([
    ['a bad metric name', '9bad 1\n'],
    ['a bad escape', 'x{a="\\t"} 1\n'],
    ['an unterminated label value', 'x{a="1} 1\n'],
    ['a duplicate series', 'x{a="1"} 1\nx{a="1"} 2\n'],
    ['TYPE after samples', 'x 1\n# TYPE x counter\n'],
    ['a family split in two groups', 'x 1\ny 1\nx{a="2"} 1\n'],
    ['a negative counter', '# TYPE c counter\nc -1\n'],
    ['non-cumulative buckets', '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 4\nh_count 4\n'],
    ['+Inf bucket different from _count', '# TYPE h histogram\nh_bucket{le="+Inf"} 4\nh_count 5\n'],
    ['a missing final line feed', 'x 1'],
    ['a bad value', 'x one\n'],
  ])('rejects %s', (_name, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
