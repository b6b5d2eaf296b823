// SPDX-License-Identifier: Apache-2.0
// authz (inbound): decides per call whether the caller (its verified SPIFFE ID in `call.peer.identity`, its
// metadata) may call the method, with the `authz` rules of the current policy snapshot (src/authz/evaluate.ts), so a
// reload applies to the next call. Enforce: a denial fails the call with PERMISSION_DENIED (ERR_AUTHZ_DENIED) or
// UNAUTHENTICATED (ERR_AUTHZ_UNAUTHENTICATED) before it reaches the app. Shadow: the call goes on; the metric and
// log say what would have happened. Every decision is counted; denials are logged at most once per rule and 10 s.

import type { Counter } from 'prom-client';
import { authzKey, authzOf, type AuthzDecision } from '../../authz/evaluate.js';
import { ProxyError } from '../../errors.js';
import type { Policy } from '../../policy/schema.js';
import type { Logger } from '../../telemetry/logger.js';
import { methodLabeler, OTHER } from '../../telemetry/metrics.js';
import type { ProxyCall } from '../call.js';
import type { Layer } from '../layer.js';

type Labels = 'grpc_service' | 'grpc_method' | 'decision' | 'rule' | 'mode';

export interface AuthzLayerDeps {
  /** The policy store (PolicyStore): read per call. */
  readonly policy: { current(): { readonly policy: Policy } };
  /** meshlet_authz_decisions_total (Metrics.authz.decisions). */
  readonly decisions: Counter<Labels>;
  readonly log: Logger;
  /** Distinct service/method label pairs before the rest count as `other`; default 500 (as the call metrics). */
  readonly maxMethods?: number;
  /** One denial line per rule, outcome and mode at most this often, ms; default 10000. */
  readonly logIntervalMs?: number;
  /** Monotonic ms; default performance.now(). */
  readonly now?: () => number;
}

export function authzLayer(deps: AuthzLayerDeps): Layer {
  const { policy, decisions, log } = deps;
  const intervalMs = deps.logIntervalMs ?? 10_000;
  const now = deps.now ?? (() => performance.now());
  // Bounded method labels by :path; the children of the counter per decision (decisions live as long as their
  // policy snapshot, so a WeakMap lets old ones go after a reload).
  const labelsOf = methodLabeler(deps.maxMethods);
  const children = new WeakMap<AuthzDecision, Map<string, Counter.Internal>>();
  const logged = new WeakMap<AuthzDecision, { at: number; folded: number }>();

  const count = (call: ProxyCall, d: AuthzDecision): void => {
    let byPath = children.get(d);
    if (byPath === undefined) children.set(d, (byPath = new Map()));
    let child = byPath.get(call.path);
    if (child === undefined) {
      const [service, method] = labelsOf(call);
      child = decisions.labels({ grpc_service: service, grpc_method: method, decision: d.decision, rule: d.rule, mode: d.mode });
      if (service !== OTHER) byPath.set(call.path, child);
    }
    child.inc();
  };
  const warn = (call: ProxyCall, d: AuthzDecision): void => {
    const t = now();
    const seen = logged.get(d);
    if (seen !== undefined && t - seen.at < intervalMs) {
      seen.folded++;
      return;
    }
    logged.set(d, { at: t, folded: 0 });
    const what = d.outcome === 'unauthenticated' ? 'caller without identity denied' : 'call denied';
    log.warn(
      { rule: d.rule, source: d.source, mode: d.mode, grpc_service: call.service, grpc_method: call.method, peer_identity: call.peer.identity, folded: seen?.folded ?? 0 },
      d.mode === 'shadow' ? `authz shadow: ${what} by ${d.rule} (call let through)` : `authz: ${what} by ${d.rule}`,
    );
  };

  return (next) => (call: ProxyCall) => {
    const authz = authzOf(policy.current().policy);
    if (authz === null) return next(call);
    const d = authz.evaluate(call.path, call.service, call.peer.identity, call.headers);
    call.set(authzKey, d);
    count(call, d);
    if (d.outcome === 'ok') return next(call);
    warn(call, d);
    if (d.mode === 'shadow') return next(call);
    return Promise.reject(
      d.outcome === 'unauthenticated'
        ? new ProxyError('ERR_AUTHZ_UNAUTHENTICATED', 'meshlet authz: a verified caller identity is required')
        : new ProxyError('ERR_AUTHZ_DENIED', 'meshlet authz: permission denied'),
    );
  };
}
