// SPDX-License-Identifier: Apache-2.0
// Decision logging is throttled per kind and backend, and says how many decisions each line stands for.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createDecisionLog } from '../../../src/resilience/decision-log.js';
import { combineEvents } from '../../../src/resilience/events.js';
import { createLogger } from '../../../src/telemetry/logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'info', destination, sync: true }) };
}

describe('createDecisionLog', () => {
  it('writes one line per kind and backend per interval, then reports how many it folded', () => {
    const { lines, log } = capture();
    let t = 0;
    const d = createDecisionLog({ log, intervalMs: 1000, now: () => t });
    for (let i = 0; i < 5; i++) d.onOverflow?.('a', 'max_requests');
    d.onOverflow?.('b', 'max_requests');
    d.onShadow?.('limits', 'a', 'max_requests');
    expect(lines.map((l) => [l['level'], l['backend'], l['folded']])).toEqual([
      ['warn', 'a', 0],
      ['warn', 'b', 0],
      ['info', 'a', 0],
    ]);
    t = 1000;
    d.onOverflow?.('a', 'max_requests');
    expect(lines.at(-1)).toMatchObject({ backend: 'a', limit: 'max_requests', folded: 4 });
  });

  it('logs every breaker state change (they are rare and each matters)', () => {
    const { lines, log } = capture();
    const d = createDecisionLog({ log, now: () => 0 });
    d.onBreakerState?.('a', 'open');
    d.onBreakerState?.('a', 'half-open');
    d.onBreakerState?.('a', 'open');
    expect(lines.map((l) => l['msg'])).toEqual(['circuit breaker opened', 'circuit breaker half-open', 'circuit breaker opened']);
  });
});

describe('combineEvents', () => {
  it('calls every sink in order, keeping each sink\'s `this`', () => {
    const seen: string[] = [];
    class Sink {
      constructor(private readonly name: string) {}
      onRetry(backend: string) {
        seen.push(`${this.name}:${backend}`);
      }
    }
    const both = combineEvents(new Sink('metrics'), undefined, new Sink('test'));
    both.onRetry?.('a', 'status');
    expect(seen).toEqual(['metrics:a', 'test:a']);
    const one = new Sink('only');
    expect(combineEvents(undefined, one)).toBe(one);
  });
});
