// SPDX-License-Identifier: Apache-2.0
// A CertSource for tests: holds material made from test-pki leaves and emits a new generation on demand (rotation).

import { X509Certificate } from 'node:crypto';
import type { CertSource, TlsMaterial } from '../../src/tls/material.js';
import type { TestCa, TestLeaf } from './test-pki.js';

export interface FakeCertSource extends CertSource {
  /** Makes `leaf` (and `cas` as the bundle) the next generation and notifies listeners. */
  rotate(leaf: TestLeaf, cas: readonly TestCa[]): TlsMaterial;
  readonly closed: boolean;
}

export function materialOf(generation: number, leaf: TestLeaf, cas: readonly TestCa[]): TlsMaterial {
  const x = new X509Certificate(leaf.certPem);
  return {
    generation,
    identity: leaf.spiffeId ?? '',
    certChainPem: leaf.certPem,
    keyPem: leaf.keyPem,
    trustBundlePem: cas.map((c) => c.certPem).join(''),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
  };
}

export function fakeCertSource(leaf: TestLeaf, cas: readonly TestCa[]): FakeCertSource {
  let current = materialOf(1, leaf, cas);
  let closed = false;
  const listeners = new Set<(m: TlsMaterial) => void>();
  return {
    kind: 'fake',
    start: () => Promise.resolve(current),
    current: () => current,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      listeners.clear();
    },
    get closed() {
      return closed;
    },
    rotate(next, nextCas) {
      current = materialOf(current.generation + 1, next, nextCas);
      for (const l of listeners) l(current);
      return current;
    },
  };
}
