// SPDX-License-Identifier: Apache-2.0
// The `mtls` section of the bootstrap (sidecar.yaml): this sidecar's SPIFFE identity, where its certificates come
// from, and how each listener and the upstream sessions use TLS. Static, like the rest of the bootstrap; the
// certificates themselves rotate at run time (src/tls/).

import { z } from 'zod';

const ms = (def: number, min: number, max: number, what: string) =>
  z.number().int().min(min).max(max).default(def).describe(`${what} Milliseconds; default ${def}; range ${min}-${max}.`);

/** A SPIFFE ID: `spiffe://<trust-domain>/<path>`, lower-case trust domain, no query or fragment. */
export const SPIFFE_ID = /^spiffe:\/\/[a-z0-9.\-_]+(\/[A-Za-z0-9.\-_]+)+$/;
/** A SPIFFE ID pattern: a SPIFFE ID where a whole path segment may be `*` (one segment) and the last may be `**`. */
export const SPIFFE_ID_PATTERN = /^spiffe:\/\/([a-z0-9.\-_]+|\*)(\/([A-Za-z0-9.\-_]+|\*))*(\/\*\*)?$/;

export const spiffeId = z
  .string()
  .regex(SPIFFE_ID, 'expected a SPIFFE ID, spiffe://<trust-domain>/<path>, e.g. spiffe://meshlet.local/svc/billing');

const filesSource = z
  .object({
    certFile: z.string().min(1).describe('PEM certificate chain: the leaf first, then intermediates. Required.'),
    keyFile: z.string().min(1).describe('PEM private key of the leaf (PKCS#8, SEC1 or PKCS#1). Required.'),
    trustBundleFile: z.string().min(1).describe('PEM root certificates peers must chain to. Required.'),
    reloadDebounceMs: ms(200, 0, 10_000, "Quiet time after a change in the files' directories before they are re-read."),
  })
  .strict()
  .describe(
    'Certificates from files (e.g. a mounted Kubernetes Secret). The parent directories are watched; a complete, ' +
      'valid new set replaces the old one, an invalid one is logged and the old one kept.',
  );

const caSource = z
  .object({
    dir: z
      .string()
      .min(1)
      .describe(
        'A CA directory made by `meshlet ca init`: root.crt and root.key, plus intermediate.crt and ' +
          'intermediate.key when it has an intermediate (which then signs the leaves). Re-read at each renewal. Required.',
      ),
    leafTtlMs: ms(86_400_000, 10_000, 31_536_000_000, 'Lifetime of the leaf this sidecar issues itself.'),
    keyType: z
      .enum(['ecdsa-p256', 'rsa-2048'])
      .default('ecdsa-p256')
      .describe('Key type of the leaf; default ecdsa-p256 (as Linkerd and Consul Connect).'),
  })
  .strict()
  .describe('The built-in CA: the sidecar issues its own short-lived leaf from the CA in `dir` and renews it.');

const consulSource = z
  .object({
    service: z
      .string()
      .optional()
      .describe('Service name the leaf is requested for (/v1/agent/connect/ca/leaf/:service); default service.name.'),
  })
  .strict()
  .describe(
    "Consul Connect's CA: roots from /v1/agent/connect/ca/roots, the leaf from /v1/agent/connect/ca/leaf/:service, " +
      'both watched with blocking queries. Uses the `consul` section for the agent address and token.',
  );

export const mtlsSchema = z
  .object({
    trustDomain: z
      .string()
      .regex(/^[a-z0-9.\-_]+$/, 'expected a trust domain: lower-case letters, digits, . - _')
      .default('meshlet.local')
      .describe('SPIFFE trust domain of this mesh; default meshlet.local.'),
    identity: spiffeId
      .optional()
      .describe(
        "This sidecar's SPIFFE ID. Default: spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount> when both are " +
          'set (env MESHLET_POD_NAMESPACE, MESHLET_SERVICE_ACCOUNT, from the downward API), else ' +
          'spiffe://<trustDomain>/svc/<service.name>. When set, a `files` leaf for another ID is rejected.',
      ),
    kubernetes: z
      .object({
        namespace: z.string().min(1).describe('The pod namespace. Env MESHLET_POD_NAMESPACE overrides.'),
        serviceAccount: z.string().min(1).describe('The pod service account. Env MESHLET_SERVICE_ACCOUNT overrides.'),
      })
      .strict()
      .optional()
      .describe('Where the Kubernetes form of the identity comes from.'),
    source: z
      .object({
        files: filesSource.optional(),
        ca: caSource.optional(),
        consul: consulSource.optional(),
      })
      .strict()
      .refine((s) => [s.files, s.ca, s.consul].filter((x) => x !== undefined).length === 1, {
        message: 'choose exactly one certificate source: files, ca or consul',
      })
      .describe('Where the certificates come from: exactly one of files, ca, consul.'),
    rotateAtFraction: z
      .number()
      .min(0.1)
      .max(0.9)
      .default(0.5)
      .describe(
        'Renew the leaf of the `ca` source once this fraction of its lifetime has passed; default 0.5 (half-life). ' +
          'With `consul` the agent renews Connect leaves itself and meshlet follows with blocking reads.',
      ),
    inbound: z
      .object({
        mode: z
          .enum(['strict', 'permissive', 'disabled'])
          .default('strict')
          .describe(
            'strict: peers must present a mesh certificate (mTLS); permissive: mTLS or plaintext h2c on the same ' +
              'port, told apart by the first bytes; disabled: plaintext h2c only. Default strict.',
          ),
        healthListen: z
          .string()
          .optional()
          .describe(
            'A plaintext listener, host:port, that answers only grpc.health.v1 (for Consul\'s agent and kubelet, which ' +
              'present no mesh certificate). With `consul.register`, the registered gRPC check targets this port ' +
              '(at service.address) instead of the inbound port: needed with mode strict, where the agent\'s check ' +
              'could not pass the inbound port. Default: none; the admin port\'s /ready also serves probes.',
          ),
      })
      .strict()
      .default({ mode: 'strict' })
      .describe('TLS on the inbound listener.'),
    outbound: z
      .object({
        mode: z
          .enum(['mtls', 'plaintext'])
          .default('mtls')
          .describe('mtls: originate mTLS to upstream sidecars and verify their SPIFFE ID; plaintext: h2c. Default mtls.'),
      })
      .strict()
      .default({ mode: 'mtls' })
      .describe('TLS from the upstream sessions to peer sidecars.'),
    minVersion: z
      .enum(['TLSv1.2', 'TLSv1.3'])
      .default('TLSv1.2')
      .describe('Lowest TLS version accepted and offered; TLS 1.3 is always preferred. Default TLSv1.2.'),
  })
  .strict()
  .describe('Mutual TLS between sidecars with SPIFFE identities. Omit for plaintext h2c between sidecars.');

export type MtlsConfig = z.output<typeof mtlsSchema>;
