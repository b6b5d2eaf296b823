// SPDX-License-Identifier: Apache-2.0
// `meshlet iptables`: the traffic redirect the injected init container installs (docs/traffic-redirect.md). Parses
// the flags, then prints (--dry-run) or applies (apply.ts) the rules, or removes them (--cleanup).

import { parseArgs } from 'node:util';
import { applyRedirect, cleanupRedirect, IptablesError } from './apply.js';
import { cleanupRules, DRY_RUN_APPLY_STATE, DRY_RUN_CLEANUP_JUMPS, redirectRules } from './rules.js';
import { redirectSettings } from './settings.js';

const STRING_FLAGS = [
  'proxy-uid',
  'inbound-port',
  'outbound-port',
  'admin-port',
  'inbound-ports',
  'exclude-inbound-ports',
  'exclude-outbound-ports',
  'exclude-outbound-cidrs',
] as const;

/** Runs `meshlet iptables ARGS`; returns the exit code: 0 done, 1 an iptables tool failed, 2 a usage error. */
export async function runIptablesCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: 'string' as const }])),
        'dry-run': { type: 'boolean' },
        cleanup: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`meshlet iptables: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const dryRun = values['dry-run'] === true;
  if (values.cleanup === true) {
    if (dryRun) {
      process.stdout.write(`# meshlet iptables --cleanup: each jump is deleted only where present\n${cleanupRules(DRY_RUN_CLEANUP_JUMPS)}`);
      return 0;
    }
    return report(() => cleanupRedirect(), 'removed meshlet\'s nat chains and jumps');
  }
  const parsed = redirectSettings(values as Record<(typeof STRING_FLAGS)[number], string | undefined>);
  if (!parsed.ok) {
    process.stderr.write(`meshlet iptables: ${parsed.error}\n`);
    return 2;
  }
  if (dryRun) {
    process.stdout.write(`# meshlet iptables: for iptables-restore --noflush; each jump is added only where absent\n${redirectRules(parsed.settings, DRY_RUN_APPLY_STATE)}`);
    return 0;
  }
  return report(() => applyRedirect(parsed.settings), 'installed the traffic redirect');
}

async function report(action: () => Promise<string>, done: string): Promise<number> {
  try {
    const text = await action();
    process.stdout.write(`${text}# meshlet iptables: ${done}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof IptablesError)) throw err;
    process.stderr.write(`meshlet iptables: ${err.message.split('\n').join(' ')}\n`);
    return 1;
  }
}
