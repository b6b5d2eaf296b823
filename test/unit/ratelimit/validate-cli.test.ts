// SPDX-License-Identifier: Apache-2.0
// `meshlet validate` and rate limits: a policy with only `rateLimits` is recognised as a policy; a bootstrap whose
// policy has a global limit but which has no `redis` section (nor MESHLET_REDIS_ADDRESS) validates with a warning.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectKind, validateFiles } from '../../../src/cli/validate.js';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-validate-rl-'));
  await writeFile(file('policy.yaml'), 'rateLimits:\n  - name: shared\n    rate: 100/s\n    scope: global\n');
  await writeFile(file('sidecar.yaml'), `service: { name: a }\noutbound: {}\npolicy: { file: ${JSON.stringify(file('policy.yaml'))} }\n`);
  await writeFile(file('with-redis.yaml'), `service: { name: a }\noutbound: {}\nredis: { address: "127.0.0.1:6379" }\npolicy: { file: ${JSON.stringify(file('policy.yaml'))} }\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('validate with rate limits', () => {
  it('detects a rateLimits-only document as a policy', () => {
    expect(detectKind('rateLimits: []\n')).toBe('policy');
  });

  it('warns when a global limit has no redis to share its bucket, and still validates', async () => {
    const r = await validateFiles([file('sidecar.yaml')], {});
    expect(r.ok).toBe(true);
    expect(r.output).toEqual([
      `${file('sidecar.yaml')}: warning: ${file('policy.yaml')} has global rate limits (shared) but there is no \`redis\` section (or MESHLET_REDIS_ADDRESS): each sidecar enforces them locally`,
      `${file('sidecar.yaml')}: ok`,
    ]);
  });

  it('does not warn with a redis section or MESHLET_REDIS_ADDRESS', async () => {
    expect((await validateFiles([file('with-redis.yaml')], {})).output).toEqual([`${file('with-redis.yaml')}: ok`]);
    expect((await validateFiles([file('sidecar.yaml')], { MESHLET_REDIS_ADDRESS: '10.0.0.1:6379' })).output).toEqual([`${file('sidecar.yaml')}: ok`]);
  });

  it('rejects a bad MESHLET_REDIS_ADDRESS under the variable\'s name', async () => {
    const r = await validateFiles([file('sidecar.yaml')], { MESHLET_REDIS_ADDRESS: 'not an address' });
    expect(r.ok).toBe(false);
    expect(r.output[0]).toContain('MESHLET_REDIS_ADDRESS');
    expect(r.output[0]).toContain('redis.address: expected host:port, redis://host:port or rediss://host:port');
  });
});
