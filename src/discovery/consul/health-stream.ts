// SPDX-License-Identifier: Apache-2.0
// An incremental reader of a /v1/health/service answer: splits the top-level JSON array into its entries as the
// body arrives and hands each one, parsed on its own, to a callback. A 10,000-instance answer (~9-16 MB) is then
// never buffered whole, nor parsed into one tree; only one entry (~1 KB) is held at a time. Top-level keys of an
// entry that the reader does not use (`skipKeys`: meshlet passes `Checks`, about half of every entry's bytes) are
// stepped over without being kept or parsed. Each entry also gets a fingerprint of its kept bytes, so a caller that
// already holds an identical entry from an earlier answer can skip parsing it (`known`). Used by client.ts.

/** Why a body could not be read; `truncated`: it ended before the array closed. */
export type HealthStreamError = { readonly reason: 'truncated' | 'not_json' | 'missing_fields'; readonly message: string };

/**
 * Options of {@link createHealthEntryStream}. `onEntry` and `known` are called as methods of this object: pass an
 * instance of a class that implements them (see client.ts), so that every reader in the process calls the same
 * functions. A call site in the reader's optimized code that meets a new closure per read is deoptimized, and V8
 * kept re-entering that stale code (thousands of deopts in some runs of a 30-read harness; decisions §19).
 */
export interface HealthEntryStreamOptions {
  /**
   * Called with each entry (JSON-parsed, not validated), its position and its fingerprint, in order, unless
   * `known` claimed it. May throw to stop the read.
   */
  readonly onEntry: (entry: unknown, index: number, fingerprint: number) => void;
  /**
   * Top-level keys of each entry whose values are dropped unread: the entry is parsed as if each such value were
   * `null`. Matched on the raw key bytes (a key written with escapes is not matched, and is kept).
   */
  readonly skipKeys?: readonly string[];
  /**
   * Asked first with each entry's fingerprint: a 53-bit hash (two 32-bit FNV-1a style hashes with different
   * multipliers) of the entry's kept bytes, i.e. the raw bytes with each `skipKeys` value replaced by `null`.
   * Equal bytes give equal fingerprints wherever the chunks split. Returning true means the caller holds the
   * result of an earlier entry with this fingerprint: the entry is then neither decoded, parsed nor passed to
   * `onEntry`. Two different entries share a fingerprint with probability ~2^-53 per pair. Default: never known.
   */
  readonly known?: (fingerprint: number) => boolean;
}

/** Feed it the body chunk by chunk, then call `end()`. Both throw a {@link HealthStreamFailure} on bad input. */
export interface HealthEntryStream {
  push(chunk: Buffer): void;
  /** Checks the body was a complete array; returns how many entries it held (known ones included). */
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const NULL_VALUE = Buffer.from('null');
/** FNV-1a's 32-bit offset basis and prime; the second hash uses MurmurHash2's multiplier and its own seed. */
const H1_SEED = 0x811c9dc5 | 0;
const H1_PRIME = 0x01000193;
const H2_SEED = 0x2f693b4b | 0;
const H2_PRIME = 0x5bd1e995;

const STATE_BEFORE = 0;
const STATE_BETWEEN = 1;
const STATE_ENTRY = 2;
const STATE_AFTER = 3;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Creates the reader. States, by position in the body:
 * 1. before the array: whitespace, then `[` (anything else: `not_json`);
 * 2. between entries (depth 1): whitespace and commas; `{` starts an entry; `]` ends the array; any other value is
 *    an entry that is not an object (`missing_fields`);
 * 3. inside an entry (depth >= 2): bytes are kept and hashed, strings stepped over byte by byte (their brackets do
 *    not count, a backslash escapes the next byte) until the `}` that closes the entry. Then, unless `known` claims
 *    its fingerprint, the kept bytes are JSON-parsed alone (`not_json` if that fails) and passed on. At depth 2 the
 *    reader also matches each key against `skipKeys`; after the `:` of a matching key it keeps (and hashes) `null`
 *    instead of the value's bytes, and keeps bytes again from the `,` or `}` that ends the value;
 * 4. after the array: whitespace only.
 * Multi-byte UTF-8 never contains a byte below 0x80, so scanning bytes for ASCII structure is exact. Kept bytes are
 * held as offsets into the current chunk, copied only when an entry spans chunks or is parsed.
 */
export function createHealthEntryStream(options: HealthEntryStreamOptions): HealthEntryStream {
  return new EntryStream(options);
}

/**
 * The reader's state machine. A class, not closures made per answer: a read of a large answer spends most of its
 * time scanning, and as closures made per read the scan was compiled on stack replacement and then deoptimized at
 * the same point on read after read (a branch without type feedback; 14 deopts in a 10 s watch of a
 * 10,000-instance answer, and TurboFan recompiling it on the worker threads each time: about a fifth of the
 * watcher's CPU). Methods shared by every reader are optimized once and stay so (decisions §19; docs/performance.md,
 * "The reader stays optimized across reads").
 */
class EntryStream implements HealthEntryStream {
  private readonly skip: readonly Buffer[];
  private readonly sink: HealthEntryStreamOptions;
  private state = STATE_BEFORE;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private count = 0;
  private h1 = H1_SEED;
  private h2 = H2_SEED;
  /** Kept bytes of the entry from earlier chunks (copies: the chunk may be reused once handed back). */
  private carried: Buffer[] = [];
  /** Kept segments of the entry in the current chunk: [start, end) pairs; [-1, -1] stands for `null`. */
  private readonly segs: number[] = [];
  // Key matching at depth 2 (only when there is something to skip): `expectKey` after `{` or `,`; while reading a
  // key, `keyLen` bytes so far and `candidates` (bit i: skip[i] still matches); `skipNext` once its `:` is due.
  private expectKey = false;
  private readingKey = false;
  private keyLen = 0;
  private candidates = 0;
  private skipNext = false;
  private skipping = false;
  /** Start of the kept segment open in the current chunk, or -1 (none open: outside an entry, or skipping). */
  private open = -1;

  constructor(options: HealthEntryStreamOptions) {
    this.skip = (options.skipKeys ?? []).map((k) => Buffer.from(k, 'utf8'));
    this.sink = options;
  }

  private keyByte(c: number): void {
    const skip = this.skip;
    let candidates = this.candidates;
    for (let k = 0; k < skip.length; k++) {
      const bit = 1 << k;
      if ((candidates & bit) !== 0 && (c === BACKSLASH || (skip[k] as Buffer)[this.keyLen] !== c)) candidates &= ~bit;
    }
    this.candidates = candidates;
    this.keyLen += 1;
  }

  private keyEnd(): void {
    this.readingKey = false;
    this.skipNext = false;
    for (let k = 0; k < this.skip.length; k++) {
      if ((this.candidates & (1 << k)) !== 0 && (this.skip[k] as Buffer).length === this.keyLen) this.skipNext = true;
    }
  }

  /** The entry's kept bytes, for parsing (rare once most entries are known). */
  private keptText(chunk: Buffer): string {
    const pieces = this.carried;
    const segs = this.segs;
    for (let s = 0; s < segs.length; s += 2) {
      const a = segs[s] as number;
      pieces.push(a < 0 ? NULL_VALUE : chunk.subarray(a, segs[s + 1]));
    }
    return (pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces)).toString('utf8');
  }

  private finishEntry(chunk: Buffer): void {
    // 53 bits: all of h1, the top 21 of h2 (a safe integer, so it keys a Map as a number).
    const fingerprint = (this.h1 >>> 0) * 0x200000 + (this.h2 >>> 11);
    const sink = this.sink;
    if (sink.known === undefined || !sink.known(fingerprint)) {
      let entry: unknown;
      try {
        entry = JSON.parse(this.keptText(chunk));
      } catch (err) {
        fail('not_json', `entry ${this.count}: ${(err as Error).message}`);
      }
      sink.onEntry(entry, this.count, fingerprint);
    }
    this.carried = [];
    this.segs.length = 0;
    this.count += 1;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    this.open = this.state === STATE_ENTRY && !this.skipping ? 0 : -1;
    let i = 0;
    while (i < n) {
      if (this.state === STATE_ENTRY) {
        i = this.scanEntry(chunk, i, n);
        continue;
      }
      const c = chunk[i] as number;
      i += 1;
      if (isSpace(c)) continue;
      if (this.state === STATE_BEFORE) {
        if (c !== LBRACKET) fail('not_json', `expected a JSON array, found ${JSON.stringify(String.fromCharCode(c))}`);
        this.state = STATE_BETWEEN;
        this.depth = 1;
      } else if (this.state === STATE_BETWEEN) {
        if (c === COMMA) continue;
        if (c === RBRACKET) {
          this.state = STATE_AFTER;
          this.depth = 0;
        } else if (c === LBRACE) {
          this.state = STATE_ENTRY;
          this.depth = 2;
          this.open = i - 1;
          this.h1 = Math.imul(H1_SEED ^ c, H1_PRIME);
          this.h2 = Math.imul(H2_SEED ^ c, H2_PRIME);
          this.expectKey = this.skip.length > 0;
          this.skipNext = false;
        } else fail('missing_fields', `entry ${this.count}: not an object`);
      } else {
        fail('not_json', 'unexpected data after the array');
      }
    }
    if (this.state === STATE_ENTRY) {
      // The entry goes on in the next chunk: copy what is kept of it from this one.
      const segs = this.segs;
      if (this.open >= 0) segs.push(this.open, n);
      for (let s = 0; s < segs.length; s += 2) {
        const a = segs[s] as number;
        this.carried.push(a < 0 ? NULL_VALUE : Buffer.from(chunk.subarray(a, segs[s + 1])));
      }
      segs.length = 0;
    }
  }

  /**
   * The hot loop: scans the entry open at `chunk[i]` up to its closing `}` (then finishes it) or to the chunk's
   * end, and returns where it stopped. Every byte of every entry passes here once, so its state lives in locals. A
   * method called once per entry rather than a loop inside `push`: V8 then optimizes it as a whole, with type
   * feedback for every exit, instead of compiling `push` on stack replacement in the middle of the first chunk and
   * deoptimizing it at the first chunk's end on every read after (see the class comment).
   */
  private scanEntry(chunk: Buffer, start: number, n: number): number {
    const skip = this.skip;
    const segs = this.segs;
    let open = this.open;
    let a = this.h1;
    let b = this.h2;
    let str = this.inString;
    let esc = this.escaped;
    let skipped = this.skipping;
    let d = this.depth;
    let done = false;
    let i = start;
    for (; i < n; i++) {
      const c = chunk[i] as number;
      if (!skipped) {
        a = Math.imul(a ^ c, H1_PRIME);
        b = Math.imul(b ^ c, H2_PRIME);
      }
      if (str) {
        if (esc) {
          esc = false;
          if (this.readingKey) this.keyByte(BACKSLASH);
        } else if (c === QUOTE) {
          str = false;
          if (this.readingKey) this.keyEnd();
        } else if (c === BACKSLASH) {
          esc = true;
          if (this.readingKey) this.keyByte(c);
        } else if (this.readingKey) {
          this.keyByte(c);
        } else {
          // Most bytes are plain string bytes: run to the next quote or backslash in a tighter loop (the byte that
          // stops it is handled, and hashed, by the next turn of the outer one).
          let j = i + 1;
          if (skipped) {
            while (j < n) {
              const x = chunk[j] as number;
              if (x === QUOTE || x === BACKSLASH) break;
              j += 1;
            }
          } else {
            while (j < n) {
              const x = chunk[j] as number;
              if (x === QUOTE || x === BACKSLASH) break;
              a = Math.imul(a ^ x, H1_PRIME);
              b = Math.imul(b ^ x, H2_PRIME);
              j += 1;
            }
          }
          i = j - 1;
        }
        continue;
      }
      if (c === QUOTE) {
        str = true;
        if (this.expectKey && d === 2) {
          this.readingKey = true;
          this.expectKey = false;
          this.keyLen = 0;
          this.candidates = (1 << skip.length) - 1;
        }
      } else if (c === LBRACE || c === LBRACKET) {
        d += 1;
      } else if (c === RBRACE || c === RBRACKET) {
        d -= 1;
        if (d === 1) {
          if (skipped) {
            skipped = false;
            open = i;
            a = Math.imul(a ^ c, H1_PRIME);
            b = Math.imul(b ^ c, H2_PRIME);
          }
          segs.push(open, i + 1);
          open = -1;
          done = true;
          i += 1;
          break;
        }
      } else if (d === 2 && skip.length > 0) {
        if (c === COLON) {
          if (this.skipNext) {
            // Keep up to the colon, stand `null` in for the value, then keep nothing until the value ends.
            this.skipNext = false;
            segs.push(open, i + 1, -1, -1);
            open = -1;
            skipped = true;
            for (let k = 0; k < NULL_VALUE.length; k++) {
              a = Math.imul(a ^ (NULL_VALUE[k] as number), H1_PRIME);
              b = Math.imul(b ^ (NULL_VALUE[k] as number), H2_PRIME);
            }
          }
        } else if (c === COMMA) {
          this.expectKey = true;
          if (skipped) {
            skipped = false;
            open = i;
            a = Math.imul(a ^ c, H1_PRIME);
            b = Math.imul(b ^ c, H2_PRIME);
          }
        }
      }
    }
    this.open = open;
    this.h1 = a;
    this.h2 = b;
    this.inString = str;
    this.escaped = esc;
    this.skipping = skipped;
    this.depth = d;
    if (done) {
      this.state = STATE_BETWEEN;
      this.finishEntry(chunk);
    }
    return i;
  }

  end(): number {
    if (this.state === STATE_BEFORE) fail('not_json', 'empty body');
    if (this.state !== STATE_AFTER) fail('truncated', `body ended inside the array, after ${this.count} entries`);
    return this.count;
  }
}

function fail(reason: HealthStreamError['reason'], message: string): never {
  throw new HealthStreamFailure(reason, message);
}
