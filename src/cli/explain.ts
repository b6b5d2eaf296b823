// SPDX-License-Identifier: Apache-2.0
// `meshlet explain`: the outbound chain one call meets (every layer, the policy values and where each came from),
// or with --inbound the authz rules and rate limits an inbound call meets. Reads the bootstrap and policy as `run` does.

import { parseArgs } from 'node:util';
import { explainAuthz, parseInboundMethod, parseMetadataArgs } from '../authz/explain.js';
import { explainInboundRateLimits } from '../ratelimit/explain.js';
import { outboundExplainLayers } from '../app/explain.js';
import { formatIssue } from '../config/errors.js';
import { readText } from '../config/load.js';
import { loadBootstrapWithOrigins, type OriginOf } from '../config/origin.js';
import type { BootstrapConfig } from '../config/schema.js';
import { fileSource, staticSource } from '../config/source.js';
import { explainCall, parseCallName } from '../policy/explain.js';
import { loadPolicy } from '../policy/load.js';
import { EMPTY_POLICY } from '../policy/schema.js';
import { OUTBOUND_TERMINAL } from '../proxy/outbound.js';
import { detectKind } from './validate.js';

/** Runs `meshlet explain ARGS`; resolves to the exit code (2 for usage errors, 1 for bad files). */
export async function explainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      policy: { type: 'string' },
      inbound: { type: 'string' },
      identity: { type: 'string' },
      metadata: { type: 'string', multiple: true },
    },
    allowPositionals: true,
    strict: true,
  });
  const call = positionals.length === 1 ? parseCallName(positionals[0] as string) : undefined;
  const inbound = values.inbound === undefined ? undefined : parseInboundMethod(values.inbound);
  const metadata = parseMetadataArgs(values.metadata ?? []);
  const ok = values.inbound === undefined ? call !== undefined : inbound !== undefined && positionals.length === 0 && metadata !== undefined;
  if (!ok || (values.config === undefined && values.policy === undefined)) {
    process.stderr.write(
      'meshlet explain: usage: meshlet explain --config FILE [--policy FILE] BACKEND/pkg.Service/Method\n' +
        '       or: meshlet explain --config FILE [--policy FILE] --inbound pkg.Service/Method [--identity ID] [--metadata K=V]...\n',
    );
    return 2;
  }
  let bootstrap: { config: BootstrapConfig; file: string; originOf: OriginOf } | undefined;
  let policyFile = values.policy;
  let policyNamedBy = values.policy === undefined ? undefined : '--policy';
  if (values.config !== undefined) {
    const text = await readText(fileSource(values.config));
    if (typeof text !== 'string') {
      process.stderr.write(`${formatIssue(text)}\n`);
      return 1;
    }
    if (detectKind(text) === 'policy') {
      policyFile ??= values.config;
      policyNamedBy ??= '--config';
    } else {
      // The bootstrap as `run` loads it: env overrides applied, each value traced to the file, the env or a default.
      const loaded = await loadBootstrapWithOrigins(staticSource(values.config, text), process.env);
      if (!loaded.ok) {
        for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
        return 1;
      }
      bootstrap = { config: loaded.config, file: values.config, originOf: loaded.originOf };
      if (policyFile === undefined && loaded.config.policy !== undefined) {
        policyFile = loaded.config.policy.file;
        policyNamedBy = `policy.file, ${loaded.originOf(['policy', 'file'])}`;
      }
    }
  }
  let policy = EMPTY_POLICY;
  if (policyFile !== undefined) {
    const loaded = await loadPolicy(fileSource(policyFile));
    if (!loaded.ok) {
      for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
      return 1;
    }
    policy = loaded.config;
  }
  if (inbound !== undefined) {
    const lines = [
      `policy     ${policyFile ?? 'none (built-in defaults)'}`,
      ...explainAuthz({ authz: policy.authz, method: inbound, identity: values.identity, metadata }).lines,
      ...explainInboundRateLimits({ rateLimits: policy.rateLimits, method: inbound, identity: values.identity, metadata: metadata ?? {} }),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  }
  if (call === undefined) return 2; // unreachable: checked above
  const lines = explainCall({
    policy,
    policyFile,
    policyNamedBy,
    bootstrap,
    layers: outboundExplainLayers(bootstrap),
    terminal: OUTBOUND_TERMINAL,
    backend: call.backend,
    method: call.method,
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
