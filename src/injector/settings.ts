// SPDX-License-Identifier: Apache-2.0
// The injector's settings (`meshlet injector --config FILE`): the sidecar template every injected pod gets, and
// what the webhook answers when a review cannot be read. A leaf: the schema only; `meshlet injector` loads the
// file through the one YAML pipeline (config/load.ts), so a bad file reports file:line:column: path: message.

import { z } from 'zod';

/** A Kubernetes resource quantity (`100m`, `0.5`, `128Mi`, `1G`, `2e3`). */
export const QUANTITY = /^([+]?[0-9.]+)([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

const quantity = z.string().regex(QUANTITY, 'expected a Kubernetes quantity such as 100m, 0.5, 128Mi or 1Gi');
const port = (def: number, what: string) =>
  z.number().int().min(1).max(65_535).default(def).describe(`${what}; default ${def}.`);

const resourcesSchema = z
  .object({
    cpuRequest: quantity.default('50m').describe('CPU request of the sidecar; default 50m.'),
    memoryRequest: quantity.default('64Mi').describe('Memory request of the sidecar; default 64Mi.'),
    cpuLimit: quantity.optional().describe('CPU limit of the sidecar; default none (no throttling of the data path).'),
    memoryLimit: quantity.default('256Mi').describe('Memory limit of the sidecar; default 256Mi.'),
  })
  .strict();

export const injectorSettingsSchema = z
  .object({
    image: z.string().min(1).default('meshlet:latest').describe('The meshlet image of the sidecar and the redirect init container; default meshlet:latest.'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent').describe('Default IfNotPresent.'),
    mode: z
      .enum(['native', 'classic'])
      .default('native')
      .describe(
        'native: the sidecar is an init container with restartPolicy Always (Kubernetes ≥ 1.29), started before ' +
          'the app and stopped after it; classic: the first container of the pod. Default native.',
      ),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('The sidecar log level (MESHLET_LOG_LEVEL); default info. Annotation meshlet.io/log-level overrides.'),
    proxyUid: z.number().int().min(1).default(4242).describe("The sidecar's UID (the image's user); its traffic is never redirected. Default 4242."),
    ports: z
      .object({
        inbound: port(6143, 'The inbound listener port'),
        outbound: port(6140, 'The outbound listener port'),
        admin: port(6191, 'The admin port: probes, /metrics'),
      })
      .strict()
      .default({ inbound: 6143, outbound: 6140, admin: 6191 }),
    resources: resourcesSchema.default({ cpuRequest: '50m', memoryRequest: '64Mi', memoryLimit: '256Mi' }),
    configMap: z
      .string()
      .min(1)
      .default('meshlet-sidecar')
      .describe(
        'The ConfigMap (in the pod namespace) whose `sidecar.yaml` is mounted at /etc/meshlet/sidecar.yaml; default ' +
          'meshlet-sidecar. Annotation meshlet.io/config-map overrides.',
      ),
    certSecret: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A Secret with the mTLS certificate files, mounted read-only at /var/run/meshlet/certs (the sidecar config ' +
          'names the files under mtls.source.files); default none (no certificate volume).',
      ),
    excludeOutboundCidrs: z
      .array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'expected a CIDR such as 10.96.0.0/12'))
      .default([])
      .describe('Outbound destinations that bypass the sidecar in every pod (e.g. the API server); default none.'),
    prometheusScrape: z.boolean().default(true).describe('Add prometheus.io/scrape, port and path annotations for the admin port (unless the pod has its own); default true.'),
    failurePolicy: z
      .enum(['Fail', 'Ignore'])
      .default('Fail')
      .describe(
        'A review the webhook cannot read or handle: Fail answers allowed=false with the reason, Ignore answers ' +
          'allowed=true without a patch (the pod starts without a sidecar). Match the webhook configuration; default Fail.',
      ),
    maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(3 * 1024 * 1024).describe('Largest review body accepted, bytes; default 3 MiB (the API server caps objects near 3 MiB); range 1 KiB-64 MiB.'),
  })
  .strict();

export type InjectorSettings = z.output<typeof injectorSettingsSchema>;

/** The settings with every default, for tests and a webhook started without --config. */
export const DEFAULT_SETTINGS: InjectorSettings = Object.freeze(injectorSettingsSchema.parse({}));
