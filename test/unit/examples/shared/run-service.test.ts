// SPDX-License-Identifier: Apache-2.0
// Where an example service listens: --port/--host flags over PORT/HOST env over defaults.

import { describe, expect, it } from 'vitest';

import { parseServiceArgs } from '../../../../examples/services/shared/run-service.js';

describe('parseServiceArgs', () => {
  it('uses the default port on loopback when nothing is given', () => {
    expect(parseServiceArgs([], {}, 50051)).toEqual({ host: '127.0.0.1', port: 50051 });
  });

  it('prefers --port and --host over PORT and HOST', () => {
    expect(parseServiceArgs(['--port', '7101', '--host', '0.0.0.0'], { PORT: '9', HOST: '::1' }, 1)).toEqual({
      host: '0.0.0.0',
      port: 7101,
    });
    expect(parseServiceArgs(['--port=0'], {}, 1).port).toBe(0);
  });

  it('falls back to PORT and HOST', () => {
    expect(parseServiceArgs([], { PORT: '7201', HOST: '::1' }, 1)).toEqual({ host: '::1', port: 7201 });
  });

  it.each([['abc'], ['-1'], ['65536'], ['1.5'], ['']])('rejects port %j', (port) => {
    expect(() => parseServiceArgs([`--port=${port}`], {}, 1)).toThrow(/invalid port/);
    expect(() => parseServiceArgs([], { PORT: port }, 1)).toThrow(/invalid port/);
  });

  it('rejects unknown flags', () => {
    expect(() => parseServiceArgs(['--prot', '1'], {}, 1)).toThrow();
  });
});
