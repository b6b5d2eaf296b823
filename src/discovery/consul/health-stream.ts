// SPDX-License-Identifier: Apache-2.0
// An incremental reader of a /v1/health/service answer: splits the top-level JSON array into its entries as the
// body arrives and hands each one, parsed on its own, to a callback. A 10,000-instance answer (~16 MB) is then
// never buffered whole, nor parsed into one tree; only one entry (~1.5 KB) is held at a time. Top-level keys of an
// entry that the reader does not use (`skipKeys`: meshlet passes `Checks`, about half of every entry's bytes) are
// stepped over without being kept or parsed. Used by client.ts.

/** Why a body could not be read; `truncated`: it ended before the array closed. */
export type HealthStreamError = { readonly reason: 'truncated' | 'not_json' | 'missing_fields'; readonly message: string };

/** Options of {@link createHealthEntryStream}. */
export interface HealthEntryStreamOptions {
  /** Called with each entry (JSON-parsed, not validated) and its position, in order. May throw to stop the read. */
  readonly onEntry: (entry: unknown, index: number) => void;
  /**
   * Top-level keys of each entry whose values are dropped unread: the entry is parsed as if each such value were
   * `null`. Matched on the raw key bytes (a key written with escapes is not matched, and is kept).
   */
  readonly skipKeys?: readonly string[];
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
const COLON = 0x3a;
const NULL_VALUE = Buffer.from('null');
/** Keys longer than this are never among `skipKeys` (Consul's top-level keys are Node, Service, Checks). */
const MAX_SKIP_KEY = 64;

/**
 * Creates the reader. States, by position in the body:
 * 1. before the array: whitespace, then `[` (anything else: `not_json`);
 * 2. between entries (depth 1): whitespace and commas; `{` starts an entry; `]` ends the array; any other value is
 *    an entry that is not an object (`missing_fields`);
 * 3. inside an entry (depth >= 2): bytes are kept, strings skipped over quote to quote (their brackets do not
 *    count) until the `}` that closes the entry; it is then JSON-parsed alone (`not_json` if that fails) and passed on.
 *    At depth 2 the reader also notes each key; after the `:` of a key in `skipKeys` it keeps `null` instead of the
 *    value's bytes, and keeps bytes again from the `,` or `}` that ends the value;
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
  const skipKeys = new Set(options.skipKeys ?? []);
  // Key tracking at depth 2 (only when there is something to skip): `expectKey` after `{` or `,`; `keyText` holds
  // the key string read so far (null once it cannot be a skip key); `lastKey` the key whose `:` comes next.
  let expectKey = false;
  let readingKey = false;
  let keyText: string | null = null;
  let lastKey: string | null = null;
  let skipping = false;

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
      let start = state === 'entry' && !skipping ? 0 : -1;
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
            if (readingKey) keyText = null; // an escaped quote: not a plain key
            escaped = false;
            i = q + 1;
            q = chunk.indexOf(QUOTE, i);
          }
          if (q < 0) {
            if (readingKey) keyText = appendKey(keyText, chunk, i, chunk.length);
            let k = chunk.length - 1;
            while (k >= i && chunk[k] === BACKSLASH) k -= 1;
            const oddTail = ((chunk.length - 1 - k) & 1) === 1;
            escaped = k < i ? oddTail !== escaped : oddTail;
            i = chunk.length;
            break;
          }
          if (readingKey) {
            lastKey = appendKey(keyText, chunk, i, q);
            readingKey = false;
            keyText = null;
          }
          inString = false;
          escaped = false;
          i = q + 1;
          continue;
        }
        const c = chunk[i] as number;
        i += 1;
        if (state === 'entry') {
          if (c === QUOTE) {
            inString = true;
            if (expectKey && depth === 2) {
              readingKey = true;
              keyText = '';
              expectKey = false;
            }
          } else if (c === LBRACE || c === LBRACKET) depth += 1;
          else if (depth === 2 && c === COLON && skipKeys.size > 0) {
            if (lastKey !== null && skipKeys.has(lastKey)) {
              // Keep up to the colon, stand `null` in for the value, then keep nothing until the value ends.
              pieces.push(chunk.subarray(start, i), NULL_VALUE);
              start = -1;
              skipping = true;
            }
            lastKey = null;
          } else if (depth === 2 && c === COMMA && skipKeys.size > 0) {
            expectKey = true;
            if (skipping) {
              skipping = false;
              start = i - 1;
            }
          } else if (c === RBRACE || c === RBRACKET) {
            depth -= 1;
            if (depth === 1 && skipping) {
              skipping = false;
              start = i - 1;
            }
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
            expectKey = skipKeys.size > 0;
            lastKey = null;
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

/** `text` plus the bytes [from, to) of `chunk` as latin1, or null once longer than any skip key can be. */
function appendKey(text: string | null, chunk: Buffer, from: number, to: number): string | null {
  if (text === null || text.length + (to - from) > MAX_SKIP_KEY) return null;
  return text + chunk.toString('latin1', from, to);
}
