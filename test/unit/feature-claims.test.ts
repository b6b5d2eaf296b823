// SPDX-License-Identifier: Apache-2.0
// Configs and deploy files claim only features meshlet has: each mention of a feature that does not exist in src/
// (mTLS, rate limiting, an injector, gRPC-Web, iptables redirection) fails here unless its file is allow-listed.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a user reads as "meshlet does this", scanned in every file under these paths. */
const SCANNED = ['config', 'deploy', 'Dockerfile'];

interface Feature {
  readonly name: string;
  readonly pattern: RegExp;
  /**
   * Files (relative to the repository root) allowed to mention the feature: the feature's own config examples and
   * docs, added in the change that implements it. Empty while meshlet does not have it.
   */
  readonly allowedIn: readonly string[];
}

const FEATURES: readonly Feature[] = [
  { name: 'mTLS', pattern: /\bm-?tls\b|mutual tls|spiffe/gi, allowedIn: ['config/schema/sidecar.schema.json', 'config/schema/policy.schema.json', 'deploy/sidecar-injector/base/mutating-webhook.yaml'] },
  { name: 'rate limiting', pattern: /rate[- _]?limit/gi, allowedIn: ['config/policy.yaml', 'config/sidecar.yaml', 'config/schema/policy.schema.json', 'config/schema/sidecar.schema.json'] },
  {
    name: 'sidecar injector',
    pattern: /\binject(or|ed|ion)?\b/gi,
    // The injector (src/injector, issue 17): its manifests, the examples it meshes, the image that runs it.
    allowedIn: [
      'Dockerfile',
      'deploy/examples/kustomization.yaml',
      'deploy/examples/namespace.yaml',
      'deploy/examples/order-service.yaml',
      'deploy/examples/user-service-sidecar.yaml',
      'deploy/examples/user-service.yaml',
      'deploy/prometheus/prometheus.yml',
      'deploy/sidecar-injector/base/deployment.yaml',
      'deploy/sidecar-injector/base/injector.yaml',
      'deploy/sidecar-injector/base/kustomization.yaml',
      'deploy/sidecar-injector/base/mutating-webhook.yaml',
      'deploy/sidecar-injector/base/namespace.yaml',
      'deploy/sidecar-injector/base/pdb.yaml',
      'deploy/sidecar-injector/base/rbac.yaml',
      'deploy/sidecar-injector/base/service.yaml',
      'deploy/sidecar-injector/overlays/cert-manager/certificate.yaml',
      'deploy/sidecar-injector/overlays/cert-manager/inject-ca.yaml',
      'deploy/sidecar-injector/overlays/cert-manager/kustomization.yaml',
      'deploy/sidecar-injector/overlays/meshlet-ca/kustomization.yaml',
      'deploy/sidecar-injector/sidecar.yaml',
    ],
  },
  { name: 'gRPC-Web', pattern: /grpc[- _]?web/gi, allowedIn: ['config/schema/sidecar.schema.json'] },
  {
    name: 'iptables traffic redirection',
    pattern: /iptables|traffic[- ]redirect|init container/gi,
    // `meshlet iptables` (issue 17), run by the init container the injector adds.
    allowedIn: [
      'Dockerfile',
      'deploy/sidecar-injector/sidecar.yaml',
    ],
  },
];

interface Claim {
  readonly feature: string;
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** Every mention of a listed feature in `text`, with its 1-based line. */
function claimsIn(file: string, text: string): Claim[] {
  const claims: Claim[] = [];
  text.split('\n').forEach((line, i) => {
    for (const f of FEATURES) {
      for (const m of line.matchAll(f.pattern)) claims.push({ feature: f.name, file, line: i + 1, text: m[0] });
    }
  });
  return claims;
}

function filesUnder(path: string): string[] {
  const full = join(ROOT, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full).flatMap((entry) => filesUnder(relative(ROOT, join(full, entry))));
}

describe('feature claims in config/, deploy/ and the Dockerfile', () => {
  it('mention mTLS, rate limiting, an injector, gRPC-Web or iptables only in allow-listed files', () => {
    const files = SCANNED.flatMap(filesUnder);
    expect(files).toContain('config/sidecar.yaml');
    const unexpected = files
      .flatMap((file) => claimsIn(file, readFileSync(join(ROOT, file), 'utf8')))
      .filter((c) => !FEATURES.find((f) => f.name === c.feature)?.allowedIn.includes(c.file))
      .map((c) => `${c.file}:${c.line}: "${c.text}" (${c.feature}, which meshlet does not implement)`);
    expect(unexpected).toEqual([]);
  });

  it('allow-lists only files that exist', () => {
    const missing = FEATURES.flatMap((f) => f.allowedIn).filter((file) => {
      try {
        return !statSync(join(ROOT, file)).isFile();
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });

  it('recognises the claims a new user was misled by', () => {
    const sample = [
      '# Peers → this service. meshlet terminates mTLS here.',
      '# Routes, retries, timeouts, rate limits and circuit breakers live in policy.yaml.',
      '# One image, two entrypoints: the sidecar and the injector.',
      'Injected pods carry the prometheus.io annotations.',
      '# so the traffic-redirect init container can exclude it from iptables REDIRECT.',
      'gRPC-Web clients are translated.',
    ].join('\n');
    const found = claimsIn('sample', sample).map((c) => `${c.line} ${c.feature}`);
    expect(found).toEqual([
      '1 mTLS',
      '2 rate limiting',
      '3 sidecar injector',
      '4 sidecar injector',
      '5 iptables traffic redirection',
      '5 iptables traffic redirection',
      '5 iptables traffic redirection',
      '6 gRPC-Web',
    ]);
  });
});
