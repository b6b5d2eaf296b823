// SPDX-License-Identifier: Apache-2.0
// Whether a pod gets a sidecar, and why not: the first step of inject(). A leaf (pure, no I/O).
// The namespace label meshlet.io/inject=enabled is the webhook's namespaceSelector, so the API server calls the
// webhook only for pods of labelled namespaces; here the pod's own annotation decides over it.

import { ANNOTATION, INIT_NAME, SIDECAR_NAME } from './annotations.js';

/** A JSON object as decoded from the review. */
export type JsonObject = Record<string, unknown>;

/**
 * The decision for one pod:
 * - `inject`: add the sidecar;
 * - `skip`: leave the pod as it is but record `reason` in meshlet.io/status;
 * - `unchanged`: answer without any patch (already injected or already decided: the webhook is reinvoked with
 *   reinvocationPolicy IfNeeded, and must not add a second sidecar nor rewrite its status);
 * - `invalid`: the pod asks for something impossible (named in `reason`); the review is denied.
 */
export type Decision =
  | { readonly action: 'inject' }
  | { readonly action: 'skip'; readonly reason: string }
  | { readonly action: 'unchanged'; readonly reason: string }
  | { readonly action: 'invalid'; readonly reason: string };

/** Decides for `pod` (a decoded Pod object). Precondition: `pod.spec` is an object (checked by the review decoder). */
export function decide(pod: JsonObject): Decision {
  const annotations = objectAt(pod, 'metadata', 'annotations');
  const spec = objectAt(pod, 'spec');
  const status = annotations[ANNOTATION.status];
  if (typeof status === 'string') return { action: 'unchanged', reason: `already decided (${ANNOTATION.status}: ${status})` };
  const names = [...list(spec['initContainers']), ...list(spec['containers'])].map((c) => (isObject(c) ? c['name'] : undefined));
  if (names.includes(SIDECAR_NAME) || names.includes(INIT_NAME)) {
    return { action: 'unchanged', reason: `the pod already has a container named ${SIDECAR_NAME} or ${INIT_NAME}` };
  }
  const wanted = annotations[ANNOTATION.inject];
  if (wanted !== undefined && wanted !== 'true' && wanted !== 'false') {
    return { action: 'invalid', reason: `annotation ${ANNOTATION.inject}: ${JSON.stringify(wanted)}: expected "true" or "false"` };
  }
  if (wanted === 'false') return { action: 'skip', reason: `opted out (${ANNOTATION.inject}: "false")` };
  // A host-network pod shares the node's network namespace: a redirect there would capture the node's traffic.
  if (spec['hostNetwork'] === true) return { action: 'skip', reason: 'host network (spec.hostNetwork: true)' };
  return { action: 'inject' };
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at `path` under `root`, or an empty one when any step is missing or not an object. */
export function objectAt(root: JsonObject, ...path: string[]): JsonObject {
  let at: unknown = root;
  for (const key of path) at = isObject(at) ? at[key] : undefined;
  return isObject(at) ? at : {};
}

export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
