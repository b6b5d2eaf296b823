// SPDX-License-Identifier: Apache-2.0
// Sources of randomness and time for pickers: a seeded PRNG (tests, simulations) and the process default
// environment. The only place in balance/ that reads a real clock or Math.random.

import type { PickerEnv } from './picker.js';

/**
 * A seeded PRNG returning uniform numbers in [0, 1): sfc32 (Chris Doty-Humphrey's Small Fast Counter), its
 * 128-bit state seeded by splitmix32 from `seed`. The same seed always yields the same sequence. Not for
 * cryptography. `seed` is any number; only its low 32 bits are used.
 */
export function createSeededRandom(seed: number): () => number {
  let s = seed >>> 0;
  const splitmix32 = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix32();
  let b = splitmix32();
  let c = splitmix32();
  let d = splitmix32();
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4_294_967_296;
  };
}

/** The production environment: `Math.random` and `performance.now()` (monotonic, ms since process start). */
export const systemPickerEnv: PickerEnv = Object.freeze({
  random: Math.random,
  now: () => performance.now(),
});
