// SPDX-License-Identifier: Apache-2.0
// rate-limit (inbound and outbound): checks the call against every `rateLimits` entry of the current policy snapshot
// that matches its direction, backend (outbound) and method, through the shared limiter (src/ratelimit/limiter.ts),
// so a reload applies to the next call. Enforce: a call without a token fails with RESOURCE_EXHAUSTED
// (ERR_RATELIMIT_EXCEEDED) and a grpc-retry-pushback-ms hint, before it reaches the app or the backend. Shadow: the
// call goes on; the metric and log say it would have been rejected. Every decision is counted; rejections are logged
// at most once per limit and 10 s.

import type { Counter } from 'prom-client';
import { ProxyError } from '../../errors.js';
import { contextKey } from '../../grpc/call.js';
import { CompiledRateLimits } from '../../ratelimit/compile.js';
import type { LimitDecision, RateDecision, RateLimiter } from '../../ratelimit/limiter.js';
import type { Policy } from '../../policy/schema.js';
import type { Logger } from '../../telemetry/logger.js';
import { methodLabeler } from '../../telemetry/metrics.js';
import type { ProxyCall } from '../call.js';
import type { Layer } from '../layer.js';

/** The rate-limit decision of a call (for the access log); absent when no limit matched. */
export const rateLimitKey = contextKey<RateDecision>('rate-limit');

export interface RateLimitLayerDeps {
  /** The policy store (PolicyStore): read per call. */
  readonly policy: { current(): { readonly policy: Policy } };
  /** The limiter shared by the inbound and outbound chains (its buckets outlive policy swaps). */
  readonly limiter: RateLimiter;
  /** meshlet_ratelimit_decisions_total and meshlet_ratelimit_redis_fallback_total. */
  readonly metrics: {
    readonly decisions: Counter<'limit' | 'direction' | 'grpc_service' | 'grpc_method' | 'decision'>;
    readonly fallback: Counter<'limit' | 'result'>;
  };
  readonly log: Logger;
  /** Distinct service/method label pairs before the rest count as `other`; default 500 (as the call metrics). */
  readonly maxMethods?: number;
  /** One rejection line per limit and decision at most this often, ms; default 10000. */
  readonly logIntervalMs?: number;
  /** Monotonic ms; default performance.now(). */
  readonly now?: () => number;
}

// Compiled once per policy snapshot, shared by both chains.
const compiledByPolicy = new WeakMap<Policy, CompiledRateLimits>();

/** The compiled `rateLimits` of a policy snapshot (cached). */
export function compiledRateLimits(policy: Policy): CompiledRateLimits {
  let c = compiledByPolicy.get(policy);
  if (c === undefined) compiledByPolicy.set(policy, (c = new CompiledRateLimits(policy.rateLimits)));
  return c;
}

export function rateLimitLayer(deps: RateLimitLayerDeps): Layer {
  const { policy, limiter, metrics, log } = deps;
  const intervalMs = deps.logIntervalMs ?? 10_000;
  const now = deps.now ?? (() => performance.now());
  const labelsOf = methodLabeler(deps.maxMethods);
  const children = new Map<string, Counter.Internal>();
  const logged = new Map<string, { at: number; folded: number }>();
  let lastPolicy: Policy | undefined;

  const count = (call: ProxyCall, d: LimitDecision): void => {
    const [service, method] = labelsOf(call);
    const k = `${d.limit.name}\u0000${service}/${method}\u0000${d.decision}`;
    let child = children.get(k);
    if (child === undefined) {
      child = metrics.decisions.labels({ limit: d.limit.name, direction: call.direction, grpc_service: service, grpc_method: method, decision: d.decision });
      if (children.size < 10_000) children.set(k, child);
    }
    child.inc();
    if (d.source === 'fallback' || d.source === 'unavailable') {
      metrics.fallback.inc({ limit: d.limit.name, result: d.source === 'fallback' ? 'local' : 'unavailable' });
    }
  };
  const warn = (call: ProxyCall, d: LimitDecision, retryAfterMs: number): void => {
    const k = `${d.limit.name}\u0000${d.decision}\u0000${d.source}`;
    const t = now();
    const seen = logged.get(k);
    if (seen !== undefined && t - seen.at < intervalMs) {
      seen.folded++;
      return;
    }
    logged.set(k, { at: t, folded: 0 });
    const what = d.source === 'unavailable' ? 'Redis unavailable (failureMode closed)' : `over ${d.limit.rate} burst ${d.limit.burst}`;
    log.warn(
      { limit: d.limit.name, mode: d.limit.mode, source: d.source, direction: call.direction, grpc_service: call.service, grpc_method: call.method, peer_identity: call.peer.identity, retry_after_ms: retryAfterMs, folded: seen?.folded ?? 0 },
      d.decision === 'shadow_rejected' ? `rate limit shadow: ${d.limit.name} would reject (${what}; call let through)` : `rate limit: ${d.limit.name} rejects (${what})`,
    );
  };

  const finish = (call: ProxyCall, next: (call: ProxyCall) => ReturnType<ReturnType<Layer>>, d: RateDecision) => {
    call.set(rateLimitKey, d);
    for (const l of d.limits) {
      count(call, l);
      if (l.decision === 'shadow_rejected') warn(call, l, 0);
    }
    const r = d.rejectedBy;
    if (r === undefined) return next(call);
    warn(call, r, d.retryAfterMs);
    if (r.source === 'unavailable') {
      return Promise.reject(new ProxyError('ERR_RATELIMIT_UNAVAILABLE', `meshlet rate limit ${r.limit.name}: Redis unavailable`, { neverReachedApp: true }));
    }
    const ms = Math.max(0, Math.ceil(d.retryAfterMs));
    return Promise.reject(
      new ProxyError('ERR_RATELIMIT_EXCEEDED', `meshlet rate limit ${r.limit.name} exceeded (${r.limit.rate})`, {
        neverReachedApp: true,
        trailers: { 'grpc-retry-pushback-ms': String(ms), 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) },
      }),
    );
  };

  return (next) => (call: ProxyCall) => {
    const p = policy.current().policy;
    const compiled = compiledRateLimits(p);
    if (p !== lastPolicy) {
      // A new snapshot: buckets of limits that left it (or changed rate, burst or descriptors) are dropped.
      lastPolicy = p;
      limiter.retain(compiled.all);
    }
    if (compiled.all.length === 0) return next(call);
    const limits = compiled.matching(call.direction, call.direction === 'outbound' ? call.backend : undefined, call.path);
    if (limits.length === 0) return next(call);
    const d = limiter.check(limits, { path: call.path, identity: call.peer.identity, headers: call.headers });
    return d instanceof Promise ? d.then((x) => finish(call, next, x)) : finish(call, next, d);
  };
}
