// SPDX-License-Identifier: Apache-2.0
// AdmissionReview (admission.k8s.io/v1) decode and encode for the webhook: the body in, inject() in the middle,
// the answer out. A leaf (pure): the HTTPS server (webhook.ts) only moves bytes.
// The answer keeps the request's uid and carries the patch as base64 of the JSON Patch with patchType JSONPatch
// (admission/v1 AdmissionResponse; Go's []byte marshals as base64).

import { isObject, type JsonObject } from './decide.js';
import { inject, type InjectResult } from './inject.js';
import type { InjectorSettings } from './settings.js';

export const REVIEW_API_VERSION = 'admission.k8s.io/v1';

/** The outcome counted by meshlet_injector_reviews_total{result}. */
export type ReviewResult = 'injected' | 'skipped' | 'unchanged' | 'denied' | 'error';

export interface ReviewAnswer {
  readonly result: ReviewResult;
  /** The AdmissionReview to send back (HTTP 200, application/json). */
  readonly review: JsonObject;
  /** For the log line: what was decided and why. */
  readonly reason: string;
  readonly namespace?: string;
  readonly name?: string;
}

/**
 * Answers the AdmissionReview in `body` (a UTF-8 JSON text). Never throws: input that is not a readable Pod
 * review is an `error` answered per `settings.failurePolicy` (Fail: allowed=false with the reason, code 400;
 * Ignore: allowed=true without a patch).
 */
export function answerReview(body: string, settings: InjectorSettings): ReviewAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    return failed('', `the body is not JSON: ${(err as Error).message}`, settings);
  }
  if (!isObject(parsed)) return failed('', 'the body is not a JSON object', settings);
  const request = parsed['request'];
  const uid = isObject(request) && typeof request['uid'] === 'string' ? request['uid'] : '';
  if (parsed['apiVersion'] !== REVIEW_API_VERSION || parsed['kind'] !== 'AdmissionReview') {
    return failed(uid, `expected apiVersion ${REVIEW_API_VERSION} kind AdmissionReview, got ${String(parsed['apiVersion'])} ${String(parsed['kind'])}`, settings);
  }
  if (!isObject(request)) return failed(uid, 'the review has no request', settings);
  if (uid === '') return failed(uid, 'request.uid is missing', settings);
  const kind = request['kind'];
  if (!isObject(kind) || kind['group'] !== '' || kind['version'] !== 'v1' || kind['kind'] !== 'Pod') {
    return failed(uid, `request.kind: expected the core v1 Pod, got ${JSON.stringify(kind)}`, settings);
  }
  const namespace = typeof request['namespace'] === 'string' ? request['namespace'] : undefined;
  const pod = request['object'];
  if (request['operation'] !== 'CREATE') {
    // Sidecars are added at creation only (a running pod's containers cannot change): allow anything else.
    return { result: 'unchanged', review: response(uid, { allowed: true }), reason: `operation ${String(request['operation'])}: nothing to do`, ...(namespace !== undefined && { namespace }) };
  }
  if (!isObject(pod)) return failed(uid, 'request.object: expected the Pod', settings);
  if (!isObject(pod['spec']) || !Array.isArray(pod['spec']['containers'])) {
    return failed(uid, 'request.object.spec.containers: expected the list of containers', settings);
  }
  const meta = isObject(pod['metadata']) ? pod['metadata'] : {};
  const name = typeof meta['name'] === 'string' && meta['name'] !== '' ? meta['name'] : typeof meta['generateName'] === 'string' ? `${meta['generateName']}*` : undefined;
  const where = { ...(namespace !== undefined && { namespace }), ...(name !== undefined && { name }) };
  return { ...fromResult(uid, inject(pod, settings)), ...where };
}

function fromResult(uid: string, r: InjectResult): Omit<ReviewAnswer, 'namespace' | 'name'> {
  const warnings = r.warnings.length > 0 ? { warnings: [...r.warnings] } : {};
  switch (r.action) {
    case 'invalid':
      return { result: 'denied', review: response(uid, { allowed: false, status: { code: 400, message: `meshlet: ${r.status}` } }), reason: r.status };
    case 'unchanged':
      return { result: 'unchanged', review: response(uid, { allowed: true, ...warnings }), reason: r.status };
    case 'skip':
    case 'inject':
      return {
        result: r.action === 'inject' ? 'injected' : 'skipped',
        review: response(uid, { allowed: true, patchType: 'JSONPatch', patch: encodePatch(r.patch), ...warnings }),
        reason: r.status,
      };
  }
}

/** base64 of the JSON text of `patch`. */
export function encodePatch(patch: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(patch), 'utf8').toString('base64');
}

/** The answer for a review that could not be handled, per the failure policy. */
export function failed(uid: string, reason: string, settings: Pick<InjectorSettings, 'failurePolicy'>): ReviewAnswer {
  const body =
    settings.failurePolicy === 'Ignore'
      ? { allowed: true, warnings: [`meshlet: not injected: ${reason}`] }
      : { allowed: false, status: { code: 400, message: `meshlet: ${reason}` } };
  return { result: 'error', review: response(uid, body), reason };
}

function response(uid: string, fields: JsonObject): JsonObject {
  return { apiVersion: REVIEW_API_VERSION, kind: 'AdmissionReview', response: { uid, ...fields } };
}
