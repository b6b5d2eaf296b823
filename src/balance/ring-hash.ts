// SPDX-License-Identifier: Apache-2.0
// ring_hash: consistent hashing on a request key over a Ketama-style ring (Envoy RING_HASH), so requests with
// the same key keep reaching the same endpoint while the set changes. A pure picker used by the balance layer.

import { registerPolicy } from './registry.js';
import { effectiveWeight } from './picker.js';
import type { BalancingPolicy, EndpointListStep, Picker, PickerEndpoint, PickerEnv, PickInput } from './picker.js';

/** Options of `ring_hash`. The header to hash is the caller's business: it passes the value as `hashKey`. */
export interface RingHashOptions {
  /**
   * Minimum number of virtual nodes on the ring (Envoy `minimum_ring_size`). Default 1024 (set by the schema);
   * range 64..65 536. Larger rings spread keys more evenly (each endpoint's share deviates by roughly
   * 1/sqrt(its virtual nodes)) and cost 8 bytes per virtual node plus an O(n log n) build.
   */
  readonly ringSize: number;
}

/** A fresh ring gets this many times `ringSize` virtual nodes, so removals rarely force a rebuild (see below). */
const HEADROOM = 2;
/** A reused scale is kept while the ring holds at most this many times `ringSize` virtual nodes. */
const MAX_GROWTH = 8;
/** Ring entries sort as `hash * 2^21 + endpoint rank`, exact in a double, so at most 2^21 endpoints. */
const RANK_BITS = 21;
const RANK_SPAN = 2 ** RANK_BITS;

/**
 * Consistent hashing (Karger et al.; libketama; Envoy's RingHashLoadBalancer):
 * 1. Each endpoint gets `max(1, round(scale * weight))` virtual nodes; node `v` of endpoint `a` sits at
 *    `murmur3_32("a_v")` on a 2^32 ring (Envoy hashes `address_v` the same way, with xxHash64).
 * 2. A request's key (`hashKey`, the configured header's value) is hashed with the same function; the request
 *    goes to the owner of the first virtual node at or after that point, wrapping around.
 * 3. If that owner is not ready, or is in `avoid`, the walk goes on to the next distinct ready owner (Envoy's
 *    ring behaves the same for retries). Avoided endpoints are used only if no other ready one exists.
 * 4. Without a key (header absent) the point is random, like Envoy: such requests spread in proportion to
 *    each endpoint's share of the ring instead of all landing on one endpoint.
 *
 * Scale (how many virtual nodes per unit of weight): a fresh ring takes `scale = 2 * ringSize / totalWeight`
 * (about 2 x ringSize nodes). A ring built with `previous` (same ringSize) keeps the previous scale while the
 * ring stays within [ringSize, 8 x ringSize] nodes. With a kept scale an endpoint's virtual nodes depend only on
 * its address and weight, so adding an endpoint moves only the keys it takes over (1/(n+1) of them on average),
 * and removing one moves only its own keys. Rebuilding with a new scale (the ring left those bounds, or no
 * `previous`) moves some more keys. The virtual node hashes of kept endpoints are reused from `previous`.
 *
 * Per pick: one hash of the key (no allocation: the UTF-8 bytes are produced on the fly), a binary search, and
 * a walk that is short unless many endpoints are not ready.
 *
 * Update (`updatePicker`, issue 13): while the kept scale stays within the bounds above, the virtual nodes of the
 * endpoints that left are dropped and those of the new ones (k) are sorted and merged into the ring: O(k log k)
 * plus one pass over the ring's arrays, with no per-endpoint sort or map rebuilt. The ring is the one
 * `createPicker` with `previous` builds (nodes ordered by position, ties by address). Otherwise it is rebuilt.
 */
export const ringHashPolicy: BalancingPolicy<RingHashOptions> & { readonly name: 'ring_hash' } = {
  name: 'ring_hash',
  createPicker(
    endpoints: readonly PickerEndpoint[],
    options: RingHashOptions,
    env: PickerEnv,
    previous?: Picker,
  ): Picker {
    const ringSize = options.ringSize;
    if (!(Number.isInteger(ringSize) && ringSize >= 1)) {
      throw new RangeError(`ring_hash ringSize must be a positive integer, got ${ringSize}`);
    }
    return new RingHashPicker(endpoints, ringSize, env, previous instanceof RingHashPicker ? previous : undefined);
  },
  updatePicker(picker: Picker, steps: readonly EndpointListStep[], endpoints, options: RingHashOptions, env): Picker {
    // A new picker (rebuild) when the scale must change; `picker` may then be left half updated and is dropped.
    if (picker instanceof RingHashPicker && picker.update(steps, options.ringSize, env)) return picker;
    return ringHashPolicy.createPicker(endpoints, options, env, picker);
  },
};

/** Registers `ring_hash` (called by app.ts at startup). */
export function setup(): void {
  registerPolicy(ringHashPolicy);
}

/** The shape of a ring_hash snapshot, for /clusters output and tests. */
export interface RingHashStats {
  /** Virtual nodes on the ring. */
  readonly nodes: number;
  /** Virtual nodes per unit of endpoint weight. */
  readonly scale: number;
}

/** The stats of a ring_hash picker; undefined for a picker of another policy. */
export function ringHashStats(picker: Picker): RingHashStats | undefined {
  return picker instanceof RingHashPicker ? { nodes: picker.nodes, scale: picker.vnodesPerWeight } : undefined;
}

class RingHashPicker implements Picker {
  /** Endpoints by slot (ring owners are slots); a free slot holds undefined. */
  private readonly slots: (PickerEndpoint | undefined)[];
  /** Free slots, reused by later updates. */
  private readonly free: number[] = [];
  /** The slot of each endpoint of the list, in the list's order (kept in step by `update`). */
  private readonly listSlots: number[];
  /** Endpoints on the ring. */
  private live: number;
  /** Sorted virtual node positions. */
  private ringHashes: Uint32Array;
  /** ringOwners[j] is the slot of the owner of ringHashes[j]. */
  private ringOwners: Uint32Array;
  /** Virtual nodes per unit of weight; kept for the next snapshot. */
  private scale: number;
  /** Virtual node hashes by address (node v at [v]); kept for the next snapshot. */
  private nodeHashes: Map<string, Uint32Array>;
  /** Per-slot mark of the pick that last examined it, so a walk checks each endpoint once. */
  private seenAt: Uint32Array;
  private pickId = 0;

  constructor(
    endpoints: readonly PickerEndpoint[],
    private readonly ringSize: number,
    private env: PickerEnv,
    previous: RingHashPicker | undefined,
  ) {
    const n = endpoints.length;
    if (n > RANK_SPAN) throw new RangeError(`ring_hash supports at most ${RANK_SPAN} endpoints, got ${n}`);
    const sorted = endpoints.slice().sort((x, y) => compareStrings(x.endpoint.address, y.endpoint.address));
    this.slots = sorted;
    this.live = n;
    this.seenAt = new Uint32Array(n);
    const slotOf = new Map<PickerEndpoint, number>();
    for (let rank = 0; rank < n; rank++) slotOf.set(sorted[rank]!, rank);
    this.listSlots = endpoints.map((e) => slotOf.get(e)!);

    const weights = sorted.map((e) => effectiveWeight(e.endpoint));
    const totalWeight = weights.reduce((sum, w) => sum + w, 0);
    const reusable = previous !== undefined && previous.ringSize === ringSize ? previous : undefined;
    let scale = reusable?.scale ?? 0;
    let nodes = scale > 0 ? countNodes(weights, scale) : 0;
    if (n > 0 && !(nodes >= ringSize && nodes <= MAX_GROWTH * ringSize)) {
      scale = (HEADROOM * ringSize) / totalWeight;
      nodes = countNodes(weights, scale);
    }
    this.scale = scale;

    // Ring entries as `hash * 2^21 + rank`, sorted numerically: by position, ties by address (deterministic
    // whatever order the resolver reported the endpoints in).
    const entries = new Float64Array(nodes);
    const nodeHashes = new Map<string, Uint32Array>();
    let j = 0;
    for (let rank = 0; rank < n; rank++) {
      const address = sorted[rank]!.endpoint.address;
      const count = nodeCount(weights[rank]!, scale);
      const hashes = hashesFor(address, count, nodeHashes.get(address) ?? reusable?.nodeHashes.get(address));
      nodeHashes.set(address, hashes);
      for (let v = 0; v < count; v++) entries[j++] = hashes[v]! * RANK_SPAN + rank;
    }
    entries.sort();
    this.nodeHashes = nodeHashes;
    this.ringHashes = new Uint32Array(nodes);
    this.ringOwners = new Uint32Array(nodes);
    for (let k = 0; k < nodes; k++) {
      const entry = entries[k]!;
      const rank = entry % RANK_SPAN;
      this.ringOwners[k] = rank;
      this.ringHashes[k] = (entry - rank) / RANK_SPAN;
    }
  }

  /**
   * Applies `steps` (see `updatePicker`) by merging: the nodes of slots that left are dropped, those of the new
   * slots are sorted and merged in. Returns false, having changed the picker only partly, when the ring must be
   * rebuilt instead: another ringSize, or the kept scale would leave the ring outside [ringSize, 8 x ringSize].
   */
  update(steps: readonly EndpointListStep[], ringSize: number, env: PickerEnv): boolean {
    if (ringSize !== this.ringSize) return false;
    const scale = this.scale;
    const slots = this.slots;
    const listSlots = this.listSlots;
    const dead = new Set<number>();
    const added: number[] = [];
    const take = (e: PickerEndpoint): number => {
      const s = this.free.pop() ?? slots.length;
      slots[s] = e;
      added.push(s);
      return s;
    };
    for (const step of steps) {
      if (step.kind === 'push') {
        listSlots.push(take(step.endpoint));
        continue;
      }
      const i = step.index;
      if (!(Number.isInteger(i) && i >= 0 && i < listSlots.length)) {
        throw new RangeError(`endpoint list step ${step.kind} at ${i}: the list has ${listSlots.length} endpoints`);
      }
      dead.add(listSlots[i]!);
      if (step.kind === 'set') {
        listSlots[i] = take(step.endpoint);
      } else {
        listSlots[i] = listSlots[listSlots.length - 1]!;
        listSlots.pop();
      }
    }
    const live = listSlots.length;
    if (live > RANK_SPAN) throw new RangeError(`ring_hash supports at most ${RANK_SPAN} endpoints, got ${live}`);
    // Nodes after the update at the kept scale (an added slot that left again counts in neither list).
    let nodes = this.ringHashes.length;
    const born = new Set(added);
    for (const s of dead) if (!born.has(s)) nodes -= nodeCount(effectiveWeight(slots[s]!.endpoint), scale);
    const fresh = added.filter((s) => !dead.has(s));
    for (const s of fresh) nodes += nodeCount(effectiveWeight(slots[s]!.endpoint), scale);
    if (live > 0 && !(scale > 0 && nodes >= ringSize && nodes <= MAX_GROWTH * ringSize)) return false;

    // The new slots' nodes, sorted by position, ties by address.
    for (const s of dead) this.nodeHashes.delete(slots[s]!.endpoint.address);
    const addHashes: number[] = [];
    const addOwners: number[] = [];
    for (const s of fresh) {
      const address = slots[s]!.endpoint.address;
      const count = nodeCount(effectiveWeight(slots[s]!.endpoint), scale);
      const hashes = hashesFor(address, count, this.nodeHashes.get(address));
      this.nodeHashes.set(address, hashes);
      for (let v = 0; v < count; v++) {
        addHashes.push(hashes[v]!);
        addOwners.push(s);
      }
    }
    const before = (h1: number, o1: number, h2: number, o2: number): boolean =>
      h1 !== h2 ? h1 < h2 : compareStrings(slots[o1]!.endpoint.address, slots[o2]!.endpoint.address) < 0;
    const order = addHashes.map((_, k) => k);
    order.sort((x, y) => (before(addHashes[x]!, addOwners[x]!, addHashes[y]!, addOwners[y]!) ? -1 : 1));

    // One merge pass over the old ring, skipping the nodes of slots that left.
    const oldHashes = this.ringHashes;
    const oldOwners = this.ringOwners;
    const ringHashes = new Uint32Array(nodes);
    const ringOwners = new Uint32Array(nodes);
    let j = 0;
    let a = 0;
    for (let k = 0; k < oldHashes.length; k++) {
      const o = oldOwners[k]!;
      if (dead.has(o)) continue;
      const h = oldHashes[k]!;
      while (a < order.length && before(addHashes[order[a]!]!, addOwners[order[a]!]!, h, o)) {
        ringHashes[j] = addHashes[order[a]!]!;
        ringOwners[j++] = addOwners[order[a++]!]!;
      }
      ringHashes[j] = h;
      ringOwners[j++] = o;
    }
    for (; a < order.length; a++) {
      ringHashes[j] = addHashes[order[a]!]!;
      ringOwners[j++] = addOwners[order[a]!]!;
    }
    this.ringHashes = ringHashes;
    this.ringOwners = ringOwners;
    for (const s of dead) {
      slots[s] = undefined;
      this.free.push(s);
    }
    this.live = live;
    if (this.seenAt.length < slots.length) {
      this.seenAt = new Uint32Array(Math.max(slots.length, this.seenAt.length * 2));
      this.pickId = 0;
    }
    this.env = env;
    return true;
  }

  pick(input: PickInput): PickerEndpoint | undefined {
    const ringHashes = this.ringHashes;
    const size = ringHashes.length;
    if (size === 0) return undefined;
    const point =
      input.hashKey === undefined ? Math.floor(this.env.random() * 4_294_967_296) : murmur3_32(input.hashKey);
    const avoid = input.avoid !== undefined && input.avoid.size > 0 ? input.avoid : undefined;

    // First node at or after `point` (wrapping to 0).
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ringHashes[mid]! < point) lo = mid + 1;
      else hi = mid;
    }

    this.pickId = this.pickId === 0xffff_ffff ? this.resetSeen() : this.pickId + 1;
    const pickId = this.pickId;
    const seenAt = this.seenAt;
    const n = this.live;
    let examined = 0;
    let avoided: PickerEndpoint | undefined;
    for (let k = 0, j = lo === size ? 0 : lo; k < size && examined < n; k++, j = j + 1 === size ? 0 : j + 1) {
      const owner = this.ringOwners[j]!;
      if (seenAt[owner] === pickId) continue;
      seenAt[owner] = pickId;
      examined++;
      const e = this.slots[owner]!;
      if (!e.ready) continue;
      if (avoid !== undefined && avoid.has(e.endpoint.address)) {
        avoided ??= e;
        continue;
      }
      return e;
    }
    return avoided;
  }

  get nodes(): number {
    return this.ringHashes.length;
  }

  get vnodesPerWeight(): number {
    return this.scale;
  }

  private resetSeen(): number {
    this.seenAt.fill(0);
    return 1;
  }
}

/** The first `count` node hashes of `address`, reusing `known` (an earlier snapshot's) when it has enough. */
function hashesFor(address: string, count: number, known: Uint32Array | undefined): Uint32Array {
  if (known === undefined || known.length < count) return hashNodes(address, count);
  return known.length > count ? known.subarray(0, count) : known;
}

function nodeCount(weight: number, scale: number): number {
  const c = Math.round(weight * scale);
  return c >= 1 ? c : 1;
}

function countNodes(weights: readonly number[], scale: number): number {
  let total = 0;
  for (const w of weights) total += nodeCount(w, scale);
  return total;
}

function hashNodes(address: string, count: number): Uint32Array {
  const hashes = new Uint32Array(count);
  for (let v = 0; v < count; v++) hashes[v] = murmur3_32(`${address}_${v}`);
  return hashes;
}

/** Orders by UTF-16 code units (not locale): stable on every platform. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * MurmurHash3 x86_32 (Austin Appleby, public domain) of the UTF-8 encoding of `key` (lone surrogates encode as
 * U+FFFD, like TextEncoder), without allocating. Returns an unsigned 32-bit integer. Matches other murmur3
 * implementations fed the same UTF-8 bytes (test vectors in the unit test).
 */
export function murmur3_32(key: string, seed = 0): number {
  let h = seed >>> 0;
  let block = 0;
  let blockBytes = 0;
  let length = 0;
  for (let i = 0; i < key.length; i++) {
    let cp = key.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const lo = i + 1 < key.length ? key.charCodeAt(i + 1) : 0;
      if (cp <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    }
    // The code point's UTF-8 bytes, first byte in the low 8 bits.
    let bytes: number;
    let count: number;
    if (cp < 0x80) {
      bytes = cp;
      count = 1;
    } else if (cp < 0x800) {
      bytes = (0xc0 | (cp >> 6)) | ((0x80 | (cp & 0x3f)) << 8);
      count = 2;
    } else if (cp < 0x10000) {
      bytes = (0xe0 | (cp >> 12)) | ((0x80 | ((cp >> 6) & 0x3f)) << 8) | ((0x80 | (cp & 0x3f)) << 16);
      count = 3;
    } else {
      bytes =
        (0xf0 | (cp >> 18)) |
        ((0x80 | ((cp >> 12) & 0x3f)) << 8) |
        ((0x80 | ((cp >> 6) & 0x3f)) << 16) |
        ((0x80 | (cp & 0x3f)) << 24);
      count = 4;
    }
    for (let b = 0; b < count; b++) {
      block |= ((bytes >>> (8 * b)) & 0xff) << (8 * blockBytes);
      length++;
      if (++blockBytes === 4) {
        h ^= scrambleBlock(block);
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        block = 0;
        blockBytes = 0;
      }
    }
  }
  if (blockBytes > 0) h ^= scrambleBlock(block);
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function scrambleBlock(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}
