// SPDX-License-Identifier: Apache-2.0
// Node 20 workaround for node:http2 clients, installed by bench/node-floor.ts: AsyncResource#bind without the deprecated
// `asyncResource` accessor. (meshlet installed it too until its data path moved off node:http2, docs/decisions.md §12.)
//
// ClientHttp2Session#request() calls AsyncResource#bind() once per stream, and Node 20's bind() attaches the
// deprecated `asyncResource` accessor (DEP0172), built from two deprecate() wrappers each made with
// Object.setPrototypeOf. That costs far more than its own profile entry (nodejs/node#58218): without it meshlet's CPU
// per call fell 13-22 % in same-run A/B benches (docs/performance.md). Node has since dropped the accessor (DEP0172
// End-of-Life, nodejs/node#58618); this gives Node 20 the same bind(). Nothing reads `bound.asyncResource` (reading it
// only printed a deprecation warning). Everything else bind() does is kept: the bound function runs `fn` in the
// resource's async scope with the caller's `this` (or `thisArg`) and arguments, and keeps `fn.length`.

import { AsyncResource } from 'node:async_hooks';

type BindTarget = (this: unknown, ...args: unknown[]) => unknown;

/** Node's AsyncResource#bind, minus the deprecated accessor. `this` is the AsyncResource. */
export function bindWithoutDeprecatedAccessor(this: AsyncResource, fn: BindTarget, thisArg?: unknown): BindTarget {
  if (typeof fn !== 'function') throw new TypeError('The "fn" argument must be of type function');
  const resource = this;
  const bound: BindTarget =
    thisArg === undefined
      ? function (this: unknown, ...args: unknown[]) {
          return resource.runInAsyncScope(fn, this, ...args);
        }
      : resource.runInAsyncScope.bind(resource, fn, thisArg);
  Object.defineProperty(bound, 'length', { configurable: true, enumerable: false, writable: false, value: fn.length });
  return bound;
}

/**
 * Replaces AsyncResource.prototype.bind in this process, only where bind() still attaches the deprecated accessor
 * (Node 20; later Node versions are left alone). Idempotent. Returns whether bind() is now the lean version.
 */
export function installLeanAsyncResourceBind(): boolean {
  const probe = AsyncResource.prototype.bind.call(new AsyncResource('meshlet.bind-probe'), () => undefined);
  if (Object.getOwnPropertyDescriptor(probe, 'asyncResource') === undefined) return true;
  (AsyncResource.prototype as unknown as { bind: typeof bindWithoutDeprecatedAccessor }).bind = bindWithoutDeprecatedAccessor;
  return true;
}
