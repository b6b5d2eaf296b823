// SPDX-License-Identifier: Apache-2.0
// The lean AsyncResource#bind keeps everything bind() promises except the deprecated `asyncResource` accessor.

import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { bindWithoutDeprecatedAccessor, installLeanAsyncResourceBind } from '../../../bench/node20-bind.js';

describe('lean AsyncResource#bind', () => {
  it('runs fn in the resource async scope with the caller this, arguments and return value', () => {
    const als = new AsyncLocalStorage<string>();
    const resource = als.run('captured', () => new AsyncResource('test'));
    const bound = bindWithoutDeprecatedAccessor.call(resource, function (this: unknown, a: unknown, b: unknown) {
      return [als.getStore(), this, a, b];
    });
    const self = { me: 1 };
    expect(als.run('caller', () => bound.call(self, 1, 2))).toEqual(['captured', self, 1, 2]);
    expect(bound.length).toBe(2);
    expect(Object.getOwnPropertyDescriptor(bound, 'asyncResource')).toBeUndefined();
  });

  it('binds thisArg when given', () => {
    const resource = new AsyncResource('test');
    const target = { v: 7 };
    const bound = bindWithoutDeprecatedAccessor.call(resource, function (this: { v: number }) {
      return this.v;
    } as never, target);
    expect(bound.call({ v: 0 })).toBe(7);
  });

  it('rejects a non-function like node does', () => {
    expect(() => bindWithoutDeprecatedAccessor.call(new AsyncResource('t'), 42 as never)).toThrow(TypeError);
  });

  it('installs idempotently; afterwards bind() attaches no deprecated accessor', () => {
    expect(installLeanAsyncResourceBind()).toBe(true);
    expect(installLeanAsyncResourceBind()).toBe(true);
    const bound = new AsyncResource('t').bind(() => 1);
    expect(bound()).toBe(1);
    expect(Object.getOwnPropertyDescriptor(bound, 'asyncResource')).toBeUndefined();
  });
});
