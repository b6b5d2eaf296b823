// SPDX-License-Identifier: Apache-2.0
// Linux network namespaces as "pods" for the traffic-redirect tests: each pod is a netns with loopback up and an
// eth0 veth whose peer sits on a bridge in a "switch" netns of the same run, so every interface and every packet
// stays inside namespaces this run created (the host's netns is never touched). Names carry the test process's
// pid (`mlt-<pid>-<n>`): parallel runs never collide, and a later run deletes what a crashed run left behind.
// Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) and `ip` (iproute2); `netnsSkipReason()` says when that is missing.

import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

/** Every namespace (and /etc/netns dir) this helper creates starts with this. */
export const NETNS_PREFIX = 'mlt-';

/** The pods' subnet; it exists only inside the run's namespaces. */
const SUBNET = '10.77.0';

export interface Pod {
  /** The pod's name in the test (`order`, `user`). */
  readonly name: string;
  /** Its network namespace (`ip netns exec NS ...`). */
  readonly ns: string;
  /** Its eth0 address, reachable from the other pods of the run. */
  readonly ip: string;
}

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SpawnInPodOptions {
  /** Run as this UID and GID (setpriv after entering the namespace); default: root. */
  readonly uid?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface NetnsLab {
  /** Creates a pod: a netns with lo up and eth0 on the run's bridge, address 10.77.0.<n+1>/24. */
  addPod(name: string): Pod;
  /** Writes /etc/netns/<ns>/hosts for every pod (ip netns exec bind-mounts it over /etc/hosts): name → IP. */
  setHosts(entries: Readonly<Record<string, string>>): void;
  /** Runs `argv` in `pod` to completion (as root). */
  exec(pod: Pod, argv: readonly string[], options?: SpawnInPodOptions): Promise<ExecResult>;
  /** Starts a long-running `argv` in `pod`; stopped by close(). */
  spawn(pod: Pod, argv: readonly string[], options?: SpawnInPodOptions): ChildProcess;
  /** Stops every process it spawned (SIGTERM, then SIGKILL after 5 s), then deletes the namespaces and hosts files. */
  close(): Promise<void>;
}

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why netns pods cannot be made here (not root, no `ip`, no netns support), or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  const probe = `${NETNS_PREFIX}probe-${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    return undefined;
  } catch (err) {
    return `cannot create a network namespace: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function deleteNamespace(ns: string): void {
  try {
    for (const pid of ip(['netns', 'pids', ns]).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
  } catch {
    // no such namespace or no process in it
  }
  try {
    ip(['netns', 'del', ns]);
  } catch {
    // already gone
  }
  rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
}

/** Deletes namespaces of earlier runs whose process is gone (a crashed or killed test run). */
export function deleteStaleNamespaces(): void {
  let list = '';
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${NETNS_PREFIX}(?:probe-)?(\\d+)-?`).exec(ns);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) deleteNamespace(ns);
  }
}

/** Starts a lab of pods for one test file: stale namespaces of crashed runs deleted first, then the switch netns. */
export function createNetnsLab(): NetnsLab {
  deleteStaleNamespaces();
  const base = `${NETNS_PREFIX}${process.pid}-${Date.now().toString(36)}`;
  const switchNs = `${base}-sw`;
  const namespaces: string[] = [];
  const children = new Set<ChildProcess>();
  const pods: Pod[] = [];
  const make = (ns: string) => {
    ip(['netns', 'add', ns]);
    namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  };
  try {
    make(switchNs);
    ip(['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', switchNs, 'link', 'set', 'br0', 'up']);
  } catch (err) {
    // No lab object reaches the caller's afterAll: delete what was made here.
    for (const ns of namespaces) deleteNamespace(ns);
    throw err;
  }

  const command = (pod: Pod, argv: readonly string[], options: SpawnInPodOptions): [string, string[], SpawnOptions] => {
    const drop = options.uid === undefined ? [] : ['setpriv', `--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups'];
    return ['ip', ['netns', 'exec', pod.ns, ...drop, ...argv], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] }];
  };

  return {
    addPod(name) {
      const n = pods.length + 1;
      const ns = `${base}-${name}`;
      make(ns); // tracked from here on: close() deletes it even if the rest fails
      // Both ends are created inside namespaces of this run: eth0 in the pod, v<n> on the switch's bridge.
      ip(['-n', switchNs, 'link', 'add', `v${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', switchNs, 'link', 'set', `v${n}`, 'master', 'br0', 'up']);
      const addr = `${SUBNET}.${n + 1}`;
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      const pod = { name, ns, ip: addr };
      pods.push(pod);
      return pod;
    },
    setHosts(entries) {
      const text = ['127.0.0.1 localhost', ...Object.entries(entries).map(([host, addr]) => `${addr} ${host}`), ''].join('\n');
      for (const pod of pods) {
        mkdirSync(`/etc/netns/${pod.ns}`, { recursive: true });
        writeFileSync(`/etc/netns/${pod.ns}/hosts`, text, { mode: 0o644 });
      }
    },
    exec(pod, argv, options = {}) {
      const [cmd, args, opts] = command(pod, argv, options);
      const child = spawn(cmd, args, opts);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      return new Promise((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    },
    spawn(pod, argv, options = {}) {
      const [cmd, args, opts] = command(pod, argv, options);
      const child = spawn(cmd, args, opts);
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    async close() {
      await Promise.all(
        [...children].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
              child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
      for (const ns of namespaces.reverse()) deleteNamespace(ns);
    },
  };
}
