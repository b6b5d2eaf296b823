// SPDX-License-Identifier: Apache-2.0
// The contract between certificate sources (files, the built-in CA, Consul Connect) and what uses certificates
// (TLS contexts of the listeners and upstream sessions, readiness, /certs, metrics): one generation of material.

/** One generation of this sidecar's TLS material. Immutable; a rotation produces a new object. */
export interface TlsMaterial {
  /** Increases by one with every change of leaf or trust bundle, starting at 1. */
  readonly generation: number;
  /** The SPIFFE ID in the leaf's URI SAN. */
  readonly identity: string;
  /** PEM: the leaf first, then any intermediates. */
  readonly certChainPem: string;
  /** PEM private key of the leaf. Never logged. */
  readonly keyPem: string;
  /** PEM roots a peer's chain must end in. */
  readonly trustBundlePem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Where this sidecar's certificates come from. `start` resolves once the first valid material is held (or rejects
 * with an error that names the file or endpoint and the reason); later changes arrive through `onChange`. A bad
 * update never replaces good material: the source logs it and keeps the last good generation.
 */
export interface CertSource {
  /** Short name for logs and /certs: `files`, `ca`, `consul`. */
  readonly kind: string;
  start(): Promise<TlsMaterial>;
  current(): TlsMaterial | undefined;
  /** Called after each new generation; returns an unsubscribe function. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
  close(): void;
}
