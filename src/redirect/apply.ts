// SPDX-License-Identifier: Apache-2.0
// Runs the redirect's rules (rules.ts) with the iptables tools: reads which of meshlet's jumps the nat table has
// (`iptables -t nat -S`), then applies one iptables-restore transaction (`--noflush`: other chains untouched).
// Needs NET_ADMIN and NET_RAW only, as the injected init container has.

import { spawn } from 'node:child_process';
import { cleanupRules, INBOUND_JUMP, meshletJumps, OUTBOUND_JUMP, redirectRules } from './rules.js';
import type { RedirectSettings } from './settings.js';

/** Where the tools are; default `iptables` and `iptables-restore` from PATH. */
export interface IptablesTools {
  readonly iptables: string;
  readonly iptablesRestore: string;
}

export const DEFAULT_TOOLS: IptablesTools = { iptables: 'iptables', iptablesRestore: 'iptables-restore' };

/** A tool that could not run or exited non-zero: the command line and what it said. */
export class IptablesError extends Error {}

/** How long a tool waits for the xtables lock another writer holds, in seconds (`-w`). */
const LOCK_WAIT_S = '5';

function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const line = `${command} ${args.join(' ')}`;
    child.on('error', (err) => reject(new IptablesError(`${line}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new IptablesError(`${line} exited ${code}: ${stderr.trim() || stdout.trim()}`));
    });
    child.stdin.on('error', () => undefined); // the close handler reports a tool that died before reading
    child.stdin.end(input ?? '');
  });
}

/** The rule lines (`-A ...`) of PREROUTING and OUTPUT in the nat table. */
async function builtinRules(tools: IptablesTools): Promise<string[]> {
  const lines: string[] = [];
  for (const chain of ['PREROUTING', 'OUTPUT']) {
    const out = await run(tools.iptables, ['-w', LOCK_WAIT_S, '-t', 'nat', '-S', chain]);
    lines.push(...out.split('\n').filter((l) => l.startsWith('-A ')));
  }
  return lines;
}

/** Installs (or refreshes) the redirect of `settings`; returns the iptables-restore input it applied. */
export async function applyRedirect(settings: RedirectSettings, tools: IptablesTools = DEFAULT_TOOLS): Promise<string> {
  const present = await builtinRules(tools);
  const text = redirectRules(settings, { inbound: present.includes(INBOUND_JUMP), outbound: present.includes(OUTBOUND_JUMP) });
  await run(tools.iptablesRestore, ['--noflush', '-w', LOCK_WAIT_S], text);
  return text;
}

/** Removes meshlet's jumps and chains, whatever state they are in; returns the iptables-restore input it applied. */
export async function cleanupRedirect(tools: IptablesTools = DEFAULT_TOOLS): Promise<string> {
  const text = cleanupRules(meshletJumps(await builtinRules(tools)));
  await run(tools.iptablesRestore, ['--noflush', '-w', LOCK_WAIT_S], text);
  return text;
}
