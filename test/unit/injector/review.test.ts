// SPDX-License-Identifier: Apache-2.0
// AdmissionReview decode/encode: the answer keeps the uid, carries a base64 JSON Patch, and bad input becomes an
// error answer per the failure policy (never a throw).

import { describe, expect, it } from 'vitest';
import { answerReview } from '../../../src/injector/review.js';
import { DEFAULT_SETTINGS, injectorSettingsSchema } from '../../../src/injector/settings.js';

const IGNORE = injectorSettingsSchema.parse({ failurePolicy: 'Ignore' });
const review = (request: Record<string, unknown>, top: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'shop',
      object: { metadata: { generateName: 'web-' }, spec: { containers: [{ name: 'app', image: 'a' }] } },
      ...request,
    },
    ...top,
  });

describe('answerReview', () => {
  it('answers with the same uid, allowed, a base64 JSON Patch and patchType JSONPatch', () => {
    const a = answerReview(review({}), DEFAULT_SETTINGS);
    expect(a).toMatchObject({ result: 'injected', namespace: 'shop', name: 'web-*' });
    const r = (a.review as { response: Record<string, unknown> }).response;
    expect(a.review).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(r).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(r['patch'] as string, 'base64').toString('utf8')) as { op: string }[];
    expect(patch.every((op) => op.op === 'add')).toBe(true);
  });

  it('allows other operations without a patch', () => {
    const a = answerReview(review({ operation: 'UPDATE' }), DEFAULT_SETTINGS);
    expect(a.result).toBe('unchanged');
    expect(a.review).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } });
  });

  const bad: [string, string, string][] = [
    ['malformed JSON', '{"apiVersion": ', 'the body is not JSON'],
    ['not an object', '[1,2]', 'the body is not a JSON object'],
    ['the wrong version', review({}, { apiVersion: 'admission.k8s.io/v1beta1' }), 'expected apiVersion admission.k8s.io/v1 kind AdmissionReview'],
    ['the wrong kind', review({}, { kind: 'TokenReview' }), 'expected apiVersion admission.k8s.io/v1 kind AdmissionReview'],
    ['no uid', review({ uid: undefined }), 'request.uid is missing'],
    ['not a Pod', review({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), 'request.kind: expected the core v1 Pod'],
    ['no object', review({ object: null }), 'request.object: expected the Pod'],
    ['no containers', review({ object: { spec: {} } }), 'request.object.spec.containers'],
  ];

  it.each(bad)('%s: Fail policy denies with code 400 and the reason', (_, body, reason) => {
    const a = answerReview(body, DEFAULT_SETTINGS);
    expect(a.result).toBe('error');
    expect(a.reason).toContain(reason);
    const r = (a.review as { response: Record<string, unknown> }).response;
    expect(r).toMatchObject({ allowed: false, status: { code: 400, message: expect.stringContaining(reason) } });
    expect(r['patch']).toBeUndefined();
  });

  it.each(bad)('%s: Ignore policy allows without a patch, with a warning', (_, body, reason) => {
    const a = answerReview(body, IGNORE);
    const r = (a.review as { response: Record<string, unknown> }).response;
    expect(r).toMatchObject({ allowed: true, warnings: [expect.stringContaining(reason)] });
    expect(r['patch']).toBeUndefined();
  });

  it('keeps the uid in an error answer when the request has one', () => {
    const a = answerReview(review({ object: null }), DEFAULT_SETTINGS);
    expect((a.review as { response: { uid: string } }).response.uid).toBe('u-1');
  });

  it('denies a pod with a bad override annotation, whatever the failure policy (it is the pod that is wrong)', () => {
    const body = review({ object: { metadata: { annotations: { 'meshlet.io/log-level': 'loud' } }, spec: { containers: [] } } });
    for (const settings of [DEFAULT_SETTINGS, IGNORE]) {
      const r = (answerReview(body, settings).review as { response: Record<string, unknown> }).response;
      expect(r).toMatchObject({ allowed: false, status: { code: 400, message: expect.stringContaining('meshlet.io/log-level') } });
    }
  });
});
