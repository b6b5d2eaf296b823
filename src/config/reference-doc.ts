// SPDX-License-Identifier: Apache-2.0
// Renders docs/configuration.md, the bootstrap config reference, from the JSON Schema (itself generated from
// schema.ts), so the reference can never drift from what the loader accepts. A golden test keeps it committed.

import { ENV_OVERRIDES } from './env.js';
import { bootstrapJsonSchema } from './json-schema.js';
import { cell, paragraph, renderSection, schemaSections } from './schema-doc.js';

/** Where the reference is committed, relative to the repository root. */
export const CONFIGURATION_DOC_PATH = 'docs/configuration.md';

/** The whole of docs/configuration.md. Deterministic: same schema, same bytes. */
export function configurationReference(): string {
  const root = bootstrapJsonSchema();
  const out: string[] = [
    '# Configuration reference: sidecar.yaml',
    '',
    '<!-- Generated from src/config/schema.ts by src/config/reference-doc.ts. Do not edit by hand:',
    '     change the schema, then run `UPDATE_GOLDEN=1 npx vitest run test/unit/config`. -->',
    '',
    paragraph(root.description),
    '',
    'Check files with `meshlet validate FILE...`, which loads them as `meshlet run` does (the environment overrides',
    'below applied, the policy file a bootstrap names checked too) and prints every problem as',
    '`file:line:column: path: message`.',
    `Editors can use the JSON Schema in \`config/schema/sidecar.schema.json\`; \`config/sidecar.yaml\` is a`,
    'commented example. Durations are integers in milliseconds (`...Ms`).',
    '',
    '## Environment overrides',
    '',
    'Applied to the file before validation; an empty variable counts as unset. A bad value is reported with the',
    'variable name in place of the file name.',
    '',
    '| Variable | Overrides | When the section is absent |',
    '| --- | --- | --- |',
    ...ENV_OVERRIDES.map((o) => `| \`${o.variable}\` | \`${o.path}\` | ${cell(o.note)} |`),
    '',
    'A bare `CONSUL_HTTP_ADDR` such as `127.0.0.1:8500` means `http://127.0.0.1:8500` (`https` when',
    '`CONSUL_HTTP_SSL=true`), as in the Consul CLI.',
  ];
  for (const s of schemaSections(root)) out.push('', ...renderSection(s));
  return `${out.join('\n')}\n`;
}
