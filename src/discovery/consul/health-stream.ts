// SPDX-License-Identifier: Apache-2.0
// An incremental reader of a /v1/health/service answer: splits the top-level JSON array into its entries as the
// body arrives and hands each one, parsed on its own, to a callback. A 10,000-instance answer (~16 MB) is then
// never buffered whole, nor parsed into one tree; only one entry (~1.5 KB) is held at a time. Used by client.ts.

/** Why a body could not be read; `truncated`: it ended before the array closed. */
export type HealthStreamError = { readonly reason: 'truncated' | 'not_json' | 'missing_fields'; readonly message: string };

/** Options of {@link createHealthEntryStream}. */
export interface HealthEntryStreamOptions {
  /** Called with each entry (JSON-parsed, not validated) and its position, in order. May throw to stop the read. */
  readonly onEntry: (entry: unknown, index: number) => void;
}

/** Feed it the body chunk by chunk, then call `end()`. Both throw a {@link HealthStreamFailure} on bad input. */
export interface HealthEntryStream {
  push(chunk: Buffer): void;
  /** Checks the body was a complete array; returns how many entries it held. */
  end(): number;
}

/** Thrown by {@link HealthEntryStream} methods. */
export class HealthStreamFailure extends Error {
  readonly reason: HealthStreamError['reason'];
  constructor(reason: HealthStreamError['reason'], message: string) {
    super(message);
    this.name = 'HealthStreamFailure';
    this.reason = reason;
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;

/**
 * Creates the reader. States, by position in the body:
 * 1. before the array: whitespace, then `[` (anything else: `not_json`);
 * 2. between entries (depth 1): whitespace and commas; `{` starts an entry; `]` ends the array; any other value is
 *    an entry that is not an object (`missing_fields`);
 * 3. inside an entry (depth >= 2): bytes are kept, strings skipped over quote to quote (their brackets do not
 *    count) until the `}` that closes the entry; it is then JSON-parsed alone (`not_json` if that fails) and passed on;
 * 4. after the array: whitespace only.
 * Multi-byte UTF-8 never contains a byte below 0x80, so scanning bytes for ASCII structure is exact.
 */
export function createHealthEntryStream(options: HealthEntryStreamOptions): HealthEntryStream {
  let state: 'before' | 'between' | 'entry' | 'after' = 'before';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let pieces: Buffer[] = [];
  let count = 0;

  const fail = (reason: HealthStreamError['reason'], message: string): never => {
    throw new HealthStreamFailure(reason, message);
  };

  const finishEntry = (): void => {
    const text = pieces.length === 1 ? (pieces[0] as Buffer).toString('utf8') : Buffer.concat(pieces).toString('utf8');
    pieces = [];
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (err) {
      fail('not_json', `entry ${count}: ${(err as Error).message}`);
    }
    options.onEntry(entry, count);
    count += 1;
  };

  return {
    push(chunk) {
      let start = state === 'entry' ? 0 : -1;
      let i = 0;
      while (i < chunk.length) {
        if (state === 'entry' && inString) {
          // Strings are most of the bytes: jump from quote to quote (native indexOf) instead of byte by byte. A
          // quote ends the string unless an odd run of backslashes precedes it (`escaped` carries the parity of a
          // run that reaches back into the previous chunk).
          let q = chunk.indexOf(QUOTE, i);
          while (q >= 0) {
            let k = q - 1;
            while (k >= i && chunk[k] === BACKSLASH) k -= 1;
            const odd = ((q - 1 - k) & 1) === 1 !== (k < i && escaped);
            if (!odd) break;
            escaped = false;
            i = q + 1;
            q = chunk.indexOf(QUOTE, i);
          }
          if (q < 0) {
            let k = chunk.length - 1;
            while (k >= i && chunk[k] === BACKSLASH) k -= 1;
            const oddTail = ((chunk.length - 1 - k) & 1) === 1;
            escaped = k < i ? oddTail !== escaped : oddTail;
            i = chunk.length;
            break;
          }
          inString = false;
          escaped = false;
          i = q + 1;
          continue;
        }
        const c = chunk[i] as number;
        i += 1;
        if (state === 'entry') {
          if (c === QUOTE) inString = true;
          else if (c === LBRACE || c === LBRACKET) depth += 1;
          else if (c === RBRACE || c === RBRACKET) {
            depth -= 1;
            if (depth === 1) {
              pieces.push(chunk.subarray(start, i));
              start = -1;
              state = 'between';
              finishEntry();
            }
          }
          continue;
        }
        if (WS.has(c)) continue;
        if (state === 'before') {
          if (c !== LBRACKET) fail('not_json', `expected a JSON array, found ${JSON.stringify(String.fromCharCode(c))}`);
          state = 'between';
          depth = 1;
        } else if (state === 'between') {
          if (c === COMMA) continue;
          if (c === RBRACKET) {
            state = 'after';
            depth = 0;
          } else if (c === LBRACE) {
            state = 'entry';
            depth = 2;
            start = i - 1;
          } else fail('missing_fields', `entry ${count}: not an object`);
        } else {
          fail('not_json', 'unexpected data after the array');
        }
      }
      if (state === 'entry' && start >= 0) pieces.push(chunk.subarray(start));
    },
    end() {
      if (state === 'before') fail('not_json', 'empty body');
      if (state !== 'after') fail('truncated', `body ended inside the array, after ${count} entries`);
      return count;
    },
  };
}
