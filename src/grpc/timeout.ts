// SPDX-License-Identifier: Apache-2.0
// grpc-timeout header parsing and formatting (PROTOCOL-HTTP2.md: TimeoutValue = 1*8DIGIT, TimeoutUnit = H|M|S|m|u|n).

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * Parses a grpc-timeout value into milliseconds (may be fractional). Returns `undefined` for a malformed value
 * (more than 8 digits, unknown unit, empty), which callers must reject rather than ignore.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const len = value.length;
  if (len < 2 || len > 9) return undefined;
  const unit = UNIT_MS[value[len - 1] as string];
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < len - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * unit;
}

/**
 * Formats a remaining budget in milliseconds as a grpc-timeout value with at most 8 digits, choosing the finest
 * unit that fits so precision is kept (rounded up, never 0: a call with budget left must not look expired).
 */
export function formatGrpcTimeout(ms: number): string {
  if (ms <= 0) return '1n';
  const ns = Math.ceil(ms * 1_000_000);
  if (ns < 1e8) return `${ns}n`;
  const us = Math.ceil(ms * 1000);
  if (us < 1e8) return `${us}u`;
  const wholeMs = Math.ceil(ms);
  if (wholeMs < 1e8) return `${wholeMs}m`;
  const s = Math.ceil(ms / 1000);
  if (s < 1e8) return `${s}S`;
  const m = Math.ceil(ms / 60_000);
  if (m < 1e8) return `${m}M`;
  return `${Math.min(Math.ceil(ms / 3_600_000), 99_999_999)}H`;
}
