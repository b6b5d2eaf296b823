// SPDX-License-Identifier: Apache-2.0
// `meshlet explain --inbound`: which authz rules apply to one inbound call (method + caller identity + metadata),
// whether each matches, and the decision with where it came from. Pure: the same compiled tables and evaluation
// as the authz layer (./evaluate.ts), returned as data and text lines.

import type { IncomingHttpHeaders } from 'node:http2';
import { CompiledAuthz, ruleLabel, ruleMatches, type AuthzDecision, type CompiledRule } from './evaluate.js';
import { AUTHZ_DEFAULTS, type AuthzPolicy } from './schema.js';

export interface AuthzExplainInput {
  /** The policy's `authz` section; undefined when the policy has none. */
  readonly authz: AuthzPolicy | undefined;
  /** `pkg.Service/Method`. */
  readonly method: string;
  /** The caller's SPIFFE ID; undefined for a caller without a verified identity. */
  readonly identity: string | undefined;
  /** Request metadata, lowercase keys. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface AuthzExplanation {
  readonly mode: 'off' | 'shadow' | 'enforce';
  /** The decision `evaluate` takes; undefined when authz does nothing (no section, mode off). */
  readonly decision: AuthzDecision | undefined;
  /** Which rule table applies: the exact method, `pkg.Service/*` or `*`. */
  readonly table: string | undefined;
  readonly lines: string[];
}

const STATUS = { ok: 'the call goes on to the app', 'permission-denied': 'PERMISSION_DENIED (ERR_AUTHZ_DENIED)', unauthenticated: 'UNAUTHENTICATED (ERR_AUTHZ_UNAUTHENTICATED)' };

/** Explains the authz decision for one call. */
export function explainAuthz(input: AuthzExplainInput): AuthzExplanation {
  const lines: string[] = [];
  const header = (k: string, v: string) => lines.push(`${k.padEnd(10)} ${v}`);
  header('inbound', `/${input.method}`);
  header('caller', input.identity ?? 'no verified identity (plaintext peer)');
  const a = input.authz;
  const mode = a === undefined ? 'off' : (a.mode ?? AUTHZ_DEFAULTS.mode);
  if (a === undefined || mode === 'off') {
    header('authz', a === undefined ? 'none: the policy has no authz section; every call goes on' : 'mode off (authz.mode): no decision; every call goes on');
    return { mode, decision: undefined, table: undefined, lines };
  }
  header('authz', `mode ${mode}${a.mode === undefined ? ' (built-in default)' : ' (authz.mode)'}`);
  const compiled = new CompiledAuthz(a, mode);
  const path = `/${input.method}`;
  const service = input.method.slice(0, input.method.indexOf('/'));
  const headers: IncomingHttpHeaders = { ...input.metadata };
  const table = compiled.table(path, service);
  header('rules', table.key === '*' ? 'the rules for every method (`*`)' : `the rules for ${table.key}`);
  const decision = compiled.evaluate(path, service, input.identity, headers);

  const list = (title: string, rules: readonly CompiledRule[]) => {
    lines.push('', title);
    if (rules.length === 0) lines.push('  (none)');
    for (const r of rules) {
      const matches = ruleMatches(r, input.identity, headers);
      const decided = decision === r.matched || decision === r.matchedUnauthenticated;
      lines.push(`  ${ruleLabel(r.input, r.index).padEnd(24)} ${matches ? 'matches' : 'no match'}${decided ? '  ← decides' : ''}  (${describe(r)})`);
    }
  };
  list('deny rules (evaluated first)', table.deny);
  list('allow rules', table.allow);
  lines.push('', `default    ${table.defaultAction} (${table.defaultSource})`);
  lines.push('', `decision   ${decision.decision} by ${decision.rule} → ${STATUS[decision.outcome]}`, `  from ${decision.source}`);
  if (mode === 'shadow' && decision.outcome !== 'ok') lines.push('  shadow: counted and logged only; the call goes on');
  return { mode, decision, table: table.key, lines };
}

function describe(r: CompiledRule): string {
  const parts = [`methods ${(r.input.methods ?? ['*']).join(', ')}`];
  if (r.input.identities !== undefined) parts.push(`identities ${r.input.identities.join(', ')}`);
  if (r.input.unauthenticated === true) parts.push('unauthenticated callers');
  if (r.anyCaller) parts.push('any caller');
  for (const m of r.input.metadata ?? []) {
    parts.push(m.regex !== undefined ? `${m.name} ~ /${m.regex}/` : m.equals !== undefined ? `${m.name} = "${m.equals}"` : `${m.name} ${m.present === false ? 'absent' : 'present'}`);
  }
  return parts.join('; ');
}

/** `pkg.Service/Method` as `--inbound` takes it; undefined when it is not of that form. */
export function parseInboundMethod(text: string): string | undefined {
  return /^[A-Za-z_][A-Za-z0-9_.]*\/[A-Za-z_][A-Za-z0-9_]*$/.test(text) ? text : undefined;
}

/** `--metadata key=value` options as a map (keys lowercased); undefined when one has no `=`. */
export function parseMetadataArgs(args: readonly string[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) return undefined;
    out[a.slice(0, eq).toLowerCase()] = a.slice(eq + 1);
  }
  return out;
}
