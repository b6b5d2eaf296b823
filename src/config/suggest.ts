// SPDX-License-Identifier: Apache-2.0
// "Did you mean": the known name closest to a misspelt one, for unknown-key messages. Pure.

/**
 * The candidate closest to `name`, or undefined when none is close. Close means: equal once case, `-` and `_`
 * are ignored (`hash_header` → `hashHeader`); or, for names of 4+ characters, one is a prefix of the other
 * (`maxSessions` → `maxSessionsPerEndpoint`); or an edit distance of at most 1 for names up to 4 characters
 * and at most 2 for longer ones. Ties go to the earlier candidate.
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const exact = candidates.find((c) => norm(c) === norm(name));
  if (exact !== undefined) return exact;
  if (name.length >= 4) {
    const prefix = candidates.find(
      (c) => norm(c).startsWith(norm(name)) || (c.length >= 3 && norm(name).startsWith(norm(c))),
    );
    if (prefix !== undefined) return prefix;
  }
  const limit = name.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = editDistance(norm(name), norm(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance (insert, delete, substitute; each costs 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, (prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
