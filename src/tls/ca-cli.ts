// SPDX-License-Identifier: Apache-2.0
// `meshlet ca init`, `meshlet ca issue` and `meshlet ca webhook`: the command-line face of the built-in CA (ca.ts). main.ts dispatches
// `meshlet ca ...` here; this module never exits the process, it returns the exit code. Keys are written, never
// printed.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CA_USAGE } from './ca-usage.js';
import { initCa, issueLeaf, KEY_TYPES, loadCa, writeLeaf, type KeyType } from './ca.js';
import { SpiffeIdError } from '../spiffe/identity.js';
import { TlsFileError } from './pem.js';


/** Where the command writes; tests pass buffers. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `8760h`, `90m`, `1h30m`, `45s` or `7d` to milliseconds (Go's units plus `d`).
 * Returns undefined for anything else, including zero.
 */
export function parseDurationMs(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * (UNITS[m[2] as string] as number);
  return total > 0 ? Math.round(total) : undefined;
}

/** Runs `meshlet ca <args>`; resolves with the exit code: 0 done, 1 failed (message on stderr), 2 usage error. */
export async function runCaCommand(args: readonly string[], io: CliIo = process): Promise<number> {
  const [sub, ...rest] = args;
  const usage = (why: string): number => {
    io.stderr.write(`meshlet ca: ${why}\n\nUsage:\n${CA_USAGE}\n`);
    return 2;
  };
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...rest],
      options: {
        dir: { type: 'string' },
        'trust-domain': { type: 'string' },
        intermediate: { type: 'boolean' },
        'key-type': { type: 'string' },
        ttl: { type: 'string' },
        'spiffe-id': { type: 'string' },
        out: { type: 'string' },
        dns: { type: 'string', multiple: true },
        service: { type: 'string' },
        namespace: { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    return usage((err as Error).message);
  }
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const keyType = str('key-type') ?? 'ecdsa-p256';
  if (!KEY_TYPES.includes(keyType as KeyType)) return usage(`--key-type must be one of ${KEY_TYPES.join(', ')}`);
  const ttlText = str('ttl');
  const ttlMs = ttlText === undefined ? undefined : parseDurationMs(ttlText);
  if (ttlText !== undefined && ttlMs === undefined) return usage(`--ttl "${ttlText}": expected a duration such as 24h or 90m`);
  const dir = str('dir');
  if (dir === undefined) return usage('--dir DIR is required');

  try {
    if (sub === 'init') {
      const trustDomain = str('trust-domain');
      if (trustDomain === undefined) return usage('--trust-domain TD is required');
      for (const flag of ['spiffe-id', 'out', 'dns']) if (values[flag] !== undefined) return usage(`--${flag} belongs to "ca issue"`);
      const ca = await initCa({
        dir,
        trustDomain,
        intermediate: values.intermediate === true,
        keyType: keyType as KeyType,
        ...(ttlMs !== undefined && { ttlMs }),
      });
      io.stdout.write(
        `created CA for spiffe://${ca.trustDomain} in ${dir}: ${ca.intermediate ? 'root.crt, intermediate.crt' : 'root.crt'} ` +
          `(expires ${ca.root.cert.validTo}); private keys are mode 0600\n`,
      );
      return 0;
    }
    if (sub === 'issue') {
      const spiffeId = str('spiffe-id');
      const out = str('out');
      if (spiffeId === undefined) return usage('--spiffe-id ID is required');
      if (out === undefined) return usage('--out PREFIX is required');
      for (const flag of ['trust-domain', 'intermediate']) if (values[flag] !== undefined) return usage(`--${flag} belongs to "ca init"`);
      const ca = await loadCa(dir);
      const leaf = await issueLeaf(ca, {
        spiffeId,
        dnsNames: (values.dns as string[] | undefined) ?? [],
        keyType: keyType as KeyType,
        ...(ttlMs !== undefined && { ttlMs }),
      });
      const files = await writeLeaf(out, leaf);
      io.stdout.write(
        `issued ${leaf.spiffeId} serial ${leaf.serial}, valid until ${leaf.notAfter.toISOString()}: ` +
          `${files.certFile}, ${files.keyFile} (0600)\n`,
      );
      return 0;
    }
    if (sub === 'webhook') return await webhookCert(dir, str('service'), str('namespace'), str('out'), keyType as KeyType, ttlMs, io, usage);
    return usage(sub === undefined ? 'name a subcommand: init, issue or webhook' : `unknown subcommand "${sub}"`);
  } catch (err) {
    if (err instanceof TlsFileError || err instanceof SpiffeIdError) {
      io.stderr.write(`meshlet ca ${sub}: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code === 'string' && typeof e.path === 'string') {
      io.stderr.write(`meshlet ca ${sub}: ${e.path}: ${e.code}\n`);
      return 1;
    }
    throw err;
  }
}

/** The webhook Secret's conventional file names, as kustomize's secretGenerator and cert-manager write them. */
export const WEBHOOK_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', patch: 'ca-bundle-patch.yaml' } as const;
/** The MutatingWebhookConfiguration the ca-bundle patch targets (deploy/sidecar-injector/). */
export const WEBHOOK_CONFIGURATION = 'meshlet-sidecar-injector';

/**
 * `meshlet ca webhook`: a serving certificate for the injector's Service (DNS SANs <svc>, <svc>.<ns>,
 * <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local), written to OUT/tls.crt + tls.key (0600) with OUT/ca.crt and a
 * kustomize patch that sets the webhook's caBundle; the caBundle (base64 of the root) is printed too.
 */
async function webhookCert(
  dir: string,
  service: string | undefined,
  namespace: string | undefined,
  out: string | undefined,
  keyType: KeyType,
  ttlMs: number | undefined,
  io: CliIo,
  usage: (why: string) => number,
): Promise<number> {
  if (service === undefined || namespace === undefined || out === undefined) return usage('ca webhook needs --service NAME, --namespace NS and --out DIR');
  const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (!label.test(service) || !label.test(namespace)) return usage('--service and --namespace must be DNS labels (a-z 0-9 -)');
  const ca = await loadCa(dir);
  const leaf = await issueLeaf(ca, {
    spiffeId: `spiffe://${ca.trustDomain}/ns/${namespace}/sa/${service}`,
    dnsNames: [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`],
    keyType,
    ttlMs: ttlMs ?? 8760 * 3_600_000,
  });
  await mkdir(out, { recursive: true });
  const prefix = join(out, 'tls');
  const files = await writeLeaf(prefix, leaf);
  const caBundle = Buffer.from(leaf.trustBundlePem, 'utf8').toString('base64');
  await writeFile(join(out, WEBHOOK_FILES.ca), leaf.trustBundlePem);
  await writeFile(
    join(out, WEBHOOK_FILES.patch),
    `# Written by meshlet ca webhook: the CA that signed ${files.certFile}, for the API server to trust.\n` +
      `- op: add\n  path: /webhooks/0/clientConfig/caBundle\n  value: ${caBundle}\n`,
  );
  io.stdout.write(
    `issued the webhook certificate for ${service}.${namespace}.svc, valid until ${leaf.notAfter.toISOString()}: ` +
      `${files.certFile}, ${files.keyFile} (0600), ${join(out, WEBHOOK_FILES.ca)}, ${join(out, WEBHOOK_FILES.patch)}\n` +
      `caBundle: ${caBundle}\n`,
  );
  return 0;
}
