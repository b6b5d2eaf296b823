// SPDX-License-Identifier: Apache-2.0
// TEST DOUBLE of Consul Connect's CA as the agent serves it, backed by meshlet's built-in CA (src/tls/ca.ts): the
// bodies of GET /v1/agent/connect/ca/roots and GET /v1/agent/connect/ca/leaf/:service, plus test controls to
// rotate the root (old root kept in Roots, inactive, as Consul does during rotation) or one service's leaf.
// Field names and shapes from developer.hashicorp.com/consul/api-docs/agent/connect ("List Certificate Authority
// (CA) Root Certificates", "Service Leaf Certificate") and api-docs/connect/ca. Blocking and X-Consul-Index are
// handled by test/doubles/consul.ts, which calls this module.

import { mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueLeaf, type IssuedLeaf, type LoadedCa } from '../../src/tls/ca.js';

export interface ConnectCaOptions {
  /** Default `11111111-2222-3333-4444-555555555555.consul` (Consul's form: the cluster ID + `.consul`). */
  readonly trustDomain?: string;
  readonly datacenter: string;
  /** Lifetime of issued leaves, ms. Default 72 h (Consul's leaf_cert_ttl default). */
  readonly leafTtlMs?: number;
}

interface RootEntry {
  readonly ca: LoadedCa;
  readonly id: string;
  readonly serial: number;
  readonly index: number;
}

export interface ConnectCa {
  readonly trustDomain: string;
  /** The roots body. `index` is the raft index the double reports for it. */
  rootsBody(): Record<string, unknown>;
  /** The leaf body for `service`, issuing one from the active root when there is none. */
  leafBody(service: string, index: () => number): Promise<Record<string, unknown>>;
  /** Whether `service` has a leaf (so the double knows whether the next read issues one). */
  hasLeaf(service: string): boolean;
  /** Makes a new active root; the old one stays listed, inactive. Every leaf is dropped (re-issued on next read). */
  rotateRoot(index: number): Promise<void>;
  /** Drops `service`'s leaf, so the next read issues a new one. */
  rotateLeaf(service: string): void;
  /** Leaves issued so far per service. */
  issuedCount(service: string): number;
  close(): void;
}

/** Colon-separated lower-case hex, Consul's form for IDs and serials. */
const colonHex = (hex: string): string => hex.toLowerCase().match(/../g)?.join(':') ?? '';

export async function createConnectCa(options: ConnectCaOptions): Promise<ConnectCa> {
  const trustDomain = options.trustDomain ?? '11111111-2222-3333-4444-555555555555.consul';
  const dir = mkdtempSync(join(tmpdir(), 'consul-double-ca-'));
  let generation = 0;
  const roots: RootEntry[] = [];
  const leaves = new Map<string, { leaf: IssuedLeaf; index: number }>();
  const issued = new Map<string, number>();

  const newRoot = async (index: number): Promise<void> => {
    generation += 1;
    const ca = await initCa({ dir: join(dir, `root-${generation}`), trustDomain });
    const fingerprint = ca.root.cert.fingerprint.replace(/:/g, '');
    roots.unshift({ ca, id: colonHex(fingerprint.slice(0, 40)), serial: generation, index });
  };
  await newRoot(1);

  const active = (): RootEntry => roots[0] as RootEntry;

  return {
    trustDomain,
    rootsBody() {
      return {
        ActiveRootID: active().id,
        TrustDomain: trustDomain,
        Roots: roots.map((r, i) => {
          const cert = r.ca.root.cert;
          return {
            ID: r.id,
            Name: 'Consul CA Primary Cert',
            SerialNumber: r.serial,
            SigningKeyID: colonHex(cert.fingerprint256.replace(/:/g, '')),
            ExternalTrustDomain: trustDomain.replace(/\.consul$/, ''),
            NotBefore: new Date(cert.validFrom).toISOString(),
            NotAfter: new Date(cert.validTo).toISOString(),
            RootCert: r.ca.root.certPem,
            IntermediateCerts: null,
            Active: i === 0,
            PrivateKeyType: 'ec',
            PrivateKeyBits: 256,
            CreateIndex: r.index,
            ModifyIndex: r.index,
          };
        }),
      };
    },
    async leafBody(service, index) {
      let entry = leaves.get(service);
      if (entry === undefined) {
        const uri = `spiffe://${trustDomain}/ns/default/dc/${options.datacenter}/svc/${service}`;
        const leaf = await issueLeaf(active().ca, { spiffeId: uri, ttlMs: options.leafTtlMs ?? 72 * 3_600_000 });
        entry = { leaf, index: index() };
        leaves.set(service, entry);
        issued.set(service, (issued.get(service) ?? 0) + 1);
      }
      const { leaf } = entry;
      return {
        SerialNumber: colonHex(new X509Certificate(leaf.certPem).serialNumber),
        CertPEM: leaf.chainPem,
        PrivateKeyPEM: leaf.keyPem,
        Service: service,
        ServiceURI: leaf.spiffeId,
        ValidAfter: leaf.notBefore.toISOString(),
        ValidBefore: leaf.notAfter.toISOString(),
        CreateIndex: entry.index,
        ModifyIndex: entry.index,
      };
    },
    hasLeaf: (service) => leaves.has(service),
    async rotateRoot(index) {
      await newRoot(index);
      leaves.clear();
    },
    rotateLeaf(service) {
      leaves.delete(service);
    },
    issuedCount: (service) => issued.get(service) ?? 0,
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
