// SPDX-License-Identifier: Apache-2.0
// The part every certificate source shares: the current generation, numbering (1, 2, ...), and change listeners.

import type { Logger } from '../../telemetry/logger.js';
import type { CheckedMaterial } from '../check.js';
import type { TlsMaterial } from '../material.js';

export interface MaterialHolder {
  current(): TlsMaterial | undefined;
  /**
   * Publishes `next` as a new generation unless it equals the current material (same chain, key and bundle);
   * returns the new generation, or undefined when nothing changed. Listeners run synchronously; one that throws is
   * logged and does not stop the others.
   */
  publish(next: CheckedMaterial): TlsMaterial | undefined;
  onChange(listener: (material: TlsMaterial) => void): () => void;
  /** Drops every listener. */
  clear(): void;
}

export function createMaterialHolder(log: Logger): MaterialHolder {
  let current: TlsMaterial | undefined;
  const listeners = new Set<(material: TlsMaterial) => void>();
  return {
    current: () => current,
    publish(next) {
      if (
        current !== undefined &&
        current.certChainPem === next.certChainPem &&
        current.keyPem === next.keyPem &&
        current.trustBundlePem === next.trustBundlePem
      ) {
        return undefined;
      }
      const material: TlsMaterial = Object.freeze({ ...next, generation: (current?.generation ?? 0) + 1 });
      current = material;
      for (const listener of [...listeners]) {
        try {
          listener(material);
        } catch (err) {
          log.error({ err, generation: material.generation }, 'certificate change listener threw');
        }
      }
      return material;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    clear: () => listeners.clear(),
  };
}
