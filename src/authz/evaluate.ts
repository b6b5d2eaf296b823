// SPDX-License-Identifier: Apache-2.0
// The authz algorithm (pure, no I/O): `compileAuthz` turns the policy's `authz` section into lookup tables once per
// policy snapshot; `evaluate` decides one call. Semantics follow Envoy RBAC / Istio AuthorizationPolicy:
//   1. Find the rules that apply to the method: a table per exact `pkg.Service/Method` named in the rules, else a
//      table per service, else the table of `*` rules (each table already holds the wider rules, in file order).
//   2. The first deny rule that matches denies.
//   3. Else the first allow rule that matches allows.
//   4. Else the service's default action (`services.<svc>.defaultAction`, else `defaultAction`) applies.
// A denial is `unauthenticated` (UNAUTHENTICATED) rather than `permission-denied` when the caller has no identity and
// one could have changed the answer: the deny rule matched through `unauthenticated: true`, or the default denied and
// an applicable allow rule names identities. Decisions are preallocated per rule, so evaluating allocates nothing.

import type { IncomingHttpHeaders } from 'node:http2';
import { contextKey } from '../grpc/call.js';
import { matchIdentity, parseIdentityPattern, type IdentityPattern } from '../spiffe/pattern.js';
import { AUTHZ_DEFAULTS, MAX_REGEX_VALUE_CHARS, type AuthzAction, type AuthzMetadataInput, type AuthzPolicy, type AuthzRuleInput } from './schema.js';

/** How a decision ends the call: goes on, PERMISSION_DENIED, or UNAUTHENTICATED. */
export type AuthzOutcome = 'ok' | 'permission-denied' | 'unauthenticated';

/** One decision. Preallocated per rule and default: compare by identity, never mutate. */
export interface AuthzDecision {
  /** What applies (enforce) or would apply (shadow). */
  readonly decision: AuthzAction;
  readonly outcome: AuthzOutcome;
  /** The bounded label: the rule's name, `rules[i]`, `services.<svc>.defaultAction` or `defaultAction`. */
  readonly rule: string;
  /** Where it came from in the policy, for logs and `meshlet explain`. */
  readonly source: string;
  readonly mode: 'shadow' | 'enforce';
}

/** The decision taken for a call, set by the authz layer for the access log. */
export const authzKey = contextKey<AuthzDecision>('authz');

/** Kinds of metadata test (numbers: compared on every call). */
const Test = { Equals: 0, Present: 1, Absent: 2, Regex: 3 } as const;
type Test = (typeof Test)[keyof typeof Test];

interface CompiledCondition {
  readonly name: string;
  readonly test: Test;
  readonly value: string;
  readonly regex: RegExp | undefined;
}

/** A rule as evaluated. */
export interface CompiledRule {
  readonly index: number;
  readonly input: AuthzRuleInput;
  readonly action: AuthzAction;
  /** No caller condition: every caller matches. */
  readonly anyCaller: boolean;
  readonly unauthenticated: boolean;
  readonly exactIds: ReadonlySet<string>;
  readonly patterns: readonly IdentityPattern[];
  readonly conditions: readonly CompiledCondition[];
  /** The decision when the rule matches (and, for deny rules, when it matched through `unauthenticated`). */
  readonly matched: AuthzDecision;
  readonly matchedUnauthenticated: AuthzDecision;
}

/** The rules and default that apply to one method, service or to every call. */
export interface AuthzTable {
  /** `pkg.Service/Method`, `pkg.Service/*` or `*`: which lookup found it. */
  readonly key: string;
  readonly deny: readonly CompiledRule[];
  readonly allow: readonly CompiledRule[];
  readonly defaultAction: AuthzAction;
  /** Where the default came from. */
  readonly defaultSource: string;
  readonly byDefault: AuthzDecision;
  /** The default's decision for a caller without identity (differs only for a deny with identity-based allows). */
  readonly byDefaultUnauthenticated: AuthzDecision;
}

/** The compiled section of one policy snapshot. */
export class CompiledAuthz {
  readonly mode: 'shadow' | 'enforce';
  private readonly byPath = new Map<string, AuthzTable>();
  private readonly byService = new Map<string, AuthzTable>();
  private readonly any: AuthzTable;

  constructor(authz: AuthzPolicy, mode: 'shadow' | 'enforce') {
    this.mode = mode;
    const rules = (authz.rules ?? []).map((r, i) => compileRule(r, i, mode));
    const services = authz.services ?? {};
    const globalDefault = authz.defaultAction ?? AUTHZ_DEFAULTS.defaultAction;
    const globalSource = authz.defaultAction === undefined ? `authz.defaultAction (built-in default ${globalDefault})` : 'authz.defaultAction';
    const table = (key: string, applies: (methods: readonly string[]) => boolean, service: string | undefined): AuthzTable => {
      const own = service === undefined ? undefined : services[service]?.defaultAction;
      const defaultAction = own ?? globalDefault;
      const defaultSource = own === undefined ? globalSource : `authz.services.${service}.defaultAction`;
      const label = own === undefined ? 'defaultAction' : `services.${service}.defaultAction`;
      const mine = rules.filter((r) => applies(r.input.methods ?? ['*']));
      const deny = mine.filter((r) => r.action === 'deny');
      const allow = mine.filter((r) => r.action === 'allow');
      const byDefault = decision(defaultAction, defaultAction === 'deny' ? 'permission-denied' : 'ok', label, defaultSource, mode);
      const identityCouldAllow = allow.some((r) => r.patterns.length > 0 || r.exactIds.size > 0);
      const byDefaultUnauthenticated =
        defaultAction === 'deny' && identityCouldAllow
          ? decision('deny', 'unauthenticated', label, `${defaultSource}; the allow rules need a caller identity`, mode)
          : byDefault;
      return { key, deny, allow, defaultAction, defaultSource, byDefault, byDefaultUnauthenticated };
    };
    this.any = table('*', (ms) => ms.includes('*'), undefined);
    const serviceNames = new Set(Object.keys(services));
    const exact = new Set<string>();
    for (const r of authz.rules ?? []) {
      for (const m of r.methods ?? []) {
        if (m === '*') continue;
        const slash = m.indexOf('/');
        serviceNames.add(m.slice(0, slash));
        if (!m.endsWith('/*')) exact.add(m);
      }
    }
    for (const svc of serviceNames) {
      this.byService.set(svc, table(`${svc}/*`, (ms) => ms.includes('*') || ms.includes(`${svc}/*`), svc));
    }
    for (const m of exact) {
      const svc = m.slice(0, m.indexOf('/'));
      this.byPath.set(`/${m}`, table(m, (ms) => ms.includes('*') || ms.includes(`${svc}/*`) || ms.includes(m), svc));
    }
  }

  /** The table for a call: by exact `:path`, else by service, else the `*` table. */
  table(path: string, service: string): AuthzTable {
    return this.byPath.get(path) ?? this.byService.get(service) ?? this.any;
  }

  /**
   * Decides one call. `identity` is the caller's verified SPIFFE ID (undefined for plaintext peers); `headers` the
   * request metadata. Allocates nothing unless a metadata key was sent several times.
   */
  evaluate(path: string, service: string, identity: string | undefined, headers: IncomingHttpHeaders): AuthzDecision {
    const t = this.table(path, service);
    for (const r of t.deny) {
      const m = matchRule(r, identity, headers, true);
      if (m !== Match.No) return m === Match.Unauthenticated ? r.matchedUnauthenticated : r.matched;
    }
    for (const r of t.allow) if (matchRule(r, identity, headers, false) !== Match.No) return r.matched;
    return identity === undefined ? t.byDefaultUnauthenticated : t.byDefault;
  }
}

function decision(action: AuthzAction, outcome: AuthzOutcome, rule: string, source: string, mode: 'shadow' | 'enforce'): AuthzDecision {
  return Object.freeze({ decision: action, outcome, rule, source, mode });
}

/** The label of rule `i`: its name, else `rules[i]`. */
export function ruleLabel(r: AuthzRuleInput, i: number): string {
  return r.name ?? `rules[${i}]`;
}

function compileRule(input: AuthzRuleInput, index: number, mode: 'shadow' | 'enforce'): CompiledRule {
  const exactIds = new Set<string>();
  const patterns: IdentityPattern[] = [];
  for (const text of input.identities ?? []) {
    const p = parseIdentityPattern(text);
    // The loader rejected every invalid pattern (validate.ts); one here is a bug.
    if (typeof p === 'string') throw new Error(`invariant: unvalidated identity pattern ${text}: ${p}`);
    if (p.exact) exactIds.add(p.text);
    else patterns.push(p);
  }
  const label = ruleLabel(input, index);
  const source = `authz.rules[${index}]${input.name === undefined ? '' : ` (${input.name})`}`;
  const matched = decision(input.action, input.action === 'deny' ? 'permission-denied' : 'ok', label, source, mode);
  return {
    index,
    input,
    action: input.action,
    anyCaller: input.identities === undefined && input.unauthenticated !== true,
    unauthenticated: input.unauthenticated === true,
    exactIds,
    patterns,
    conditions: (input.metadata ?? []).map(compileCondition),
    matched,
    matchedUnauthenticated:
      input.action === 'deny' ? decision('deny', 'unauthenticated', label, `${source}, matched as an unauthenticated caller`, mode) : matched,
  };
}

function compileCondition(m: AuthzMetadataInput): CompiledCondition {
  if (m.regex !== undefined) return { name: m.name, test: Test.Regex, value: m.regex, regex: new RegExp(`^(?:${m.regex})$`, 'u') };
  if (m.equals !== undefined) return { name: m.name, test: Test.Equals, value: m.equals, regex: undefined };
  return { name: m.name, test: m.present === false ? Test.Absent : Test.Present, value: '', regex: undefined };
}

/** How a rule matched; `Unauthenticated`: because the caller has no identity and the rule has `unauthenticated: true`. */
const Match = { No: 0, Yes: 1, Unauthenticated: 2 } as const;
type Match = (typeof Match)[keyof typeof Match];

/** `deny`: a value too long for its regex counts as met (fail closed), else as not met. */
function matchRule(r: CompiledRule, identity: string | undefined, headers: IncomingHttpHeaders, deny: boolean): Match {
  let via: Match = Match.Yes;
  if (!r.anyCaller) {
    if (identity === undefined) {
      if (!r.unauthenticated) return Match.No;
      via = Match.Unauthenticated;
    } else if (!r.exactIds.has(identity) && !anyPattern(r.patterns, identity)) return Match.No;
  }
  for (const c of r.conditions) if (!meets(c, headers, deny)) return Match.No;
  return via;
}

/** Whether rule `r` matches the caller and metadata, as `evaluate` tests it (`meshlet explain`). */
export function ruleMatches(r: CompiledRule, identity: string | undefined, headers: IncomingHttpHeaders): boolean {
  return matchRule(r, identity, headers, r.action === 'deny') !== Match.No;
}

function anyPattern(patterns: readonly IdentityPattern[], id: string): boolean {
  for (const p of patterns) if (matchIdentity(p, id)) return true;
  return false;
}

function meets(c: CompiledCondition, headers: IncomingHttpHeaders, deny: boolean): boolean {
  const raw = headers[c.name];
  if (c.test === Test.Absent) return raw === undefined;
  if (raw === undefined) return false;
  if (c.test === Test.Present) return true;
  // RFC 9110 §5.3: a field sent several times is equivalent to its values joined with ", ".
  const value = typeof raw === 'string' ? raw : raw.join(', ');
  if (c.test === Test.Equals) return value === c.value;
  if (value.length > MAX_REGEX_VALUE_CHARS) return deny;
  return (c.regex as RegExp).test(value);
}

const compiled = new WeakMap<object, CompiledAuthz | null>();

/**
 * The compiled `authz` of a policy snapshot (memoised per snapshot object), or null when authz does no work: no
 * section, or `mode: off`. `snapshot` is any object that lives exactly as long as the policy (the Policy itself).
 */
export function authzOf(snapshot: { readonly authz?: AuthzPolicy | undefined }): CompiledAuthz | null {
  let c = compiled.get(snapshot);
  if (c === undefined) {
    const a = snapshot.authz;
    const mode = a?.mode ?? AUTHZ_DEFAULTS.mode;
    c = a === undefined || mode === 'off' ? null : new CompiledAuthz(a, mode);
    compiled.set(snapshot, c);
  }
  return c;
}
