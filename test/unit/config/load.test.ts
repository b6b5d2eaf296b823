// SPDX-License-Identifier: Apache-2.0
// The bootstrap load pipeline: a table of invalid documents with their exact issues, then valid documents
// (defaults, freezing).

import { describe, expect, it } from 'vitest';
import { formatIssue, type ConfigIssue } from '../../../src/config/errors.js';
import { loadBootstrap } from '../../../src/config/load.js';
import { bootstrapSchema } from '../../../src/config/schema.js';
import { staticSource, type ConfigSource } from '../../../src/config/source.js';

const FILE = 'sidecar.yaml';
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;
const load = (text: string) => loadBootstrap(staticSource(FILE, text), {});

/** Expected issue: `path`, `at` = "line:column", and a fragment of the message. */
type Expect = [path: string, at: string, message: string];

async function issuesOf(text: string): Promise<ConfigIssue[]> {
  const result = await load(text);
  if (result.ok) throw new Error('expected the document to be rejected');
  return result.errors;
}

const invalid: { name: string; doc: string; issues: Expect[] }[] = [
  {
    name: 'unknown top-level key, with a suggestion',
    doc: yaml('service:', '  name: user-service', 'outbound: {}', 'upstream:', '  billing: {}'),
    issues: [['upstream', '4:1', 'unknown key "upstream" (did you mean "upstreams"?)']],
  },
  {
    name: 'unknown top-level key without a close match lists the allowed keys',
    doc: yaml('service:', '  name: user-service', 'outbound: {}', 'telemetry: true'),
    issues: [['telemetry', '4:1', 'unknown key "telemetry"; allowed here: service, inbound, outbound, upstreams, consul']],
  },
  {
    name: 'unknown nested key',
    doc: yaml('service:', '  name: user-service', 'inbound:', '  app: 127.0.0.1:50051', '  listn: 0.0.0.0:6143'),
    issues: [['inbound.listn', '5:3', 'unknown key "listn" (did you mean "listen"?)']],
  },
  {
    name: 'unknown key inside a backend, in snake_case',
    doc: yaml(
      'service: { name: a }',
      'outbound: {}',
      'upstreams:',
      '  user-service:',
      '    balancing:',
      '      policy: ring_hash',
      '      hash_header: x-user-id',
    ),
    issues: [
      ['upstreams.user-service.balancing.hashHeader', '5:5', 'ring_hash needs hashHeader'],
      ['upstreams.user-service.balancing.hash_header', '7:7', 'unknown key "hash_header" (did you mean "hashHeader"?)'],
    ],
  },
  {
    name: 'unknown key in an endpoint object',
    doc: yaml(
      'service: { name: a }',
      'outbound: {}',
      'upstreams:',
      '  billing:',
      '    endpoints:',
      '      - { address: 10.0.0.1:9090, wieght: 2 }',
    ),
    issues: [['upstreams.billing.endpoints[0].wieght', '6:35', 'unknown key "wieght" (did you mean "weight"?)']],
  },
  {
    name: 'zero and negative endpoint weights (issue 13)',
    doc: yaml(
      'service: { name: a }',
      'outbound: {}',
      'upstreams:',
      '  billing:',
      '    endpoints:',
      '      - { address: 10.0.0.1:9090, weight: 0 }',
      '      - { address: 10.0.0.2:9090, weight: -3 }',
    ),
    issues: [
      ['upstreams.billing.endpoints[0].weight', '6:43', 'expected number to be >=1'],
      ['upstreams.billing.endpoints[1].weight', '7:43', 'expected number to be >=1'],
    ],
  },
  {
    name: 'wrong type',
    doc: yaml('service: { name: a }', 'outbound: {}', 'connection:', '  connectTimeoutMs: 3s'),
    issues: [['connection.connectTimeoutMs', '4:21', 'expected number, received string']],
  },
  {
    name: 'a section that is not a map points at its key',
    doc: yaml('service: user-service', 'outbound: {}'),
    issues: [['service', '1:10', 'expected object, received string']],
  },
  {
    name: 'empty section',
    doc: yaml('service:', 'outbound: {}'),
    issues: [['service', '1:1', 'expected object, received null']],
  },
  {
    name: 'wrong enum value',
    doc: yaml('service: { name: a }', 'outbound: {}', 'log: { level: loud }'),
    issues: [['log.level', '3:15', 'expected one of "trace"|"debug"|"info"']],
  },
  {
    name: 'fractional integer',
    doc: yaml('service: { name: a }', 'outbound: {}', 'shutdown: { drainTimeoutMs: 1.5 }'),
    issues: [['shutdown.drainTimeoutMs', '3:29', 'expected int']],
  },
  {
    name: 'an HTTP/2 window below the protocol minimum and an unknown HTTP/2 key',
    doc: yaml('service: { name: a }', 'outbound: {}', 'http2:', '  streamWindowBytes: 1000', '  maxStreams: 10'),
    issues: [
      ['http2.streamWindowBytes', '4:22', 'expected number to be >=65535'],
      ['http2.maxStreams', '5:3', 'unknown key "maxStreams"'],
    ],
  },
  {
    name: 'bad host:port reports the format once, not the port range too',
    doc: yaml('service: { name: a }', 'inbound:', '  app: localhost'),
    issues: [['inbound.app', '3:8', 'expected host:port, e.g. 127.0.0.1:6140']],
  },
  {
    name: 'listen port out of range',
    doc: yaml('service: { name: a }', 'outbound:', '  listen: 127.0.0.1:70000'),
    issues: [['outbound.listen', '3:11', 'port must be 0-65535']],
  },
  {
    name: 'endpoint port 0',
    doc: yaml('service: { name: a }', 'inbound:', '  app: 127.0.0.1:0'),
    issues: [['inbound.app', '3:8', 'port must be 1-65535']],
  },
  {
    name: 'endpoint that is neither a string nor an object',
    doc: yaml('service: { name: a }', 'outbound: {}', 'upstreams:', '  billing:', '    endpoints: [10.0.0.1:9090, 42]'),
    issues: [['upstreams.billing.endpoints[1]', '5:32', 'expected string or object, received number']],
  },
  {
    name: 'endpoint object with a bad address',
    doc: yaml('service: { name: a }', 'outbound: {}', 'upstreams:', '  billing:', '    endpoints:', '      - address: x'),
    issues: [['upstreams.billing.endpoints[0].address', '6:18', 'expected host:port']],
  },
  {
    name: 'ring_hash without hashHeader points at balancing',
    doc: yaml('service: { name: a }', 'outbound: {}', 'upstreams:', '  sessions:', '    balancing:', '      policy: ring_hash'),
    issues: [['upstreams.sessions.balancing.hashHeader', '5:5', 'ring_hash needs hashHeader']],
  },
  {
    name: 'invalid backend name points at the name',
    doc: yaml('service: { name: a }', 'outbound: {}', 'upstreams:', '  "user service": {}'),
    issues: [['upstreams["user service"]', '4:3', 'invalid key "user service": expected letters, digits']],
  },
  {
    name: 'missing service.name points at service',
    doc: yaml('outbound: {}', 'service:', '  tags: [a]'),
    issues: [['service.name', '2:1', 'missing required key "name"']],
  },
  {
    name: 'missing service section',
    doc: yaml('outbound: {}'),
    issues: [['service', '1:1', 'missing required key "service"']],
  },
  {
    name: 'neither inbound nor outbound',
    doc: yaml('# user-service', 'service:', '  name: user-service'),
    issues: [['', '2:1', 'configure at least one of inbound or outbound']],
  },
  {
    name: 'Consul address that is not an http(s) URL',
    doc: yaml('service: { name: a }', 'outbound: {}', 'consul:', '  address: consul.local:8500/v1'),
    issues: [['consul.address', '4:12', 'expected http(s)://host:port']],
  },
  {
    name: 'Consul watch backoff cap below its base',
    doc: yaml('service: { name: a }', 'outbound: {}', 'consul:', '  watch: { backoffBaseMs: 500, backoffMaxMs: 200 }'),
    issues: [['consul.watch.backoffMaxMs', '4:46', 'backoffMaxMs must be >= backoffBaseMs']],
  },
  {
    name: 'Consul watch paced slower than a minute',
    doc: yaml('service: { name: a }', 'outbound: {}', 'consul:', '  watch: { minIntervalMs: 120000 }'),
    issues: [['consul.watch.minIntervalMs', '4:27', 'expected number to be <=60000']],
  },
  {
    name: 'a document that is a list',
    doc: yaml('- service'),
    issues: [['', '1:1', 'expected object, received array']],
  },
  {
    name: 'YAML syntax error',
    doc: yaml('service:', '  name: "user-service', 'outbound: {}'),
    issues: [['', '4:1', 'Missing closing "quote']],
  },
  // Indentation errors point at the offending key, with its path (issue 11): the parser alone says column 1, no path.
  {
    name: 'bad indentation: a key between two levels',
    doc: yaml('service:', '  name: a', ' outbound: {}'),
    issues: [['service.outbound', '3:2', 'bad indentation: "outbound" is at column 2, but the keys under "service" are at column 3, "service" itself at column 1']],
  },
  {
    name: 'bad indentation: bad nesting deep in a backend',
    doc: yaml('service: { name: a }', 'outbound: {}', 'upstreams:', '  b:', '    balancing:', '      policy: ring_hash', '     hashHeader: x'),
    issues: [['upstreams.b.balancing.hashHeader', '7:6', 'the keys under "balancing" are at column 7, "balancing" itself at column 5']],
  },
  {
    name: 'bad indentation: a tab',
    doc: yaml('service:', '\tname: a', 'outbound: {}'),
    issues: [['service.name', '2:2', '"name" is indented with a tab; YAML indents with spaces only']],
  },
  {
    name: 'bad indentation: a key indented under a scalar',
    doc: yaml('service:', '  name: a', '    tags: [x]', 'outbound: {}'),
    issues: [['service.name.tags', '3:5', '"tags" is indented under "name", which already has a value on its line; align it with "name" (column 3)']],
  },
  {
    name: 'bad indentation: a key indented under a scalar in a list item',
    doc: yaml(
      'service: { name: a }',
      'outbound: {}',
      'upstreams:',
      '  b:',
      '    endpoints:',
      '      - address: 10.0.0.1:1',
      '        weight: 2',
      '      - address: 10.0.0.2:1',
      '         weight: 3',
    ),
    issues: [['upstreams.b.endpoints[1].address.weight', '9:10', 'align it with "address" (column 9)']],
  },
  {
    name: 'unknown YAML tag',
    doc: yaml('service: { name: !secret a }', 'outbound: {}'),
    issues: [['', '1:18', 'Unresolved tag: !secret']],
  },
  {
    name: 'more than one document',
    doc: yaml('service: { name: a }', 'outbound: {}', '---', 'service: { name: b }'),
    issues: [['', '3:1', 'multiple documents']],
  },
  {
    name: 'alias expansion bomb',
    doc: yaml(
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    ),
    issues: [['', '1:1', 'Excessive alias count']],
  },
  {
    name: 'empty document',
    doc: '',
    issues: [['', '1:1', 'the document is empty']],
  },
  {
    name: 'document with only comments',
    doc: yaml('# nothing yet'),
    issues: [['', '1:1', 'the document is empty']],
  },
  {
    name: 'duplicate key, reported with the schema issues',
    doc: yaml('service:', '  name: a', '  name: b', 'outbound: {}', 'admin: { listen: nowhere }'),
    issues: [
      ['service.name', '3:3', 'duplicate key "name" (first defined on line 2)'],
      ['admin.listen', '5:18', 'expected host:port'],
    ],
  },
  {
    name: 'a late duplicate key sorts after an earlier schema issue',
    doc: yaml('service: { name: a }', 'outbound: { listen: nowhere }', 'log:', '  level: info', '  level: warn'),
    issues: [
      ['outbound.listen', '2:21', 'expected host:port'],
      ['log.level', '5:3', 'duplicate key "level" (first defined on line 4)'],
    ],
  },
  {
    name: 'several errors at once, in file order',
    doc: yaml(
      'service:',
      '  weight: 0',
      'inbound:',
      '  listen: 0.0.0.0:99999',
      '  app: 127.0.0.1:50051',
      'upstreams:',
      '  billing:',
      '    endpoints: [nope]',
      '    balancing: { policy: ring_hash, ringSize: 10 }',
      'connection: { connectTimeoutMs: -1, maxSessions: 2 }',
    ),
    issues: [
      ['service.name', '1:1', 'missing required key "name"'],
      ['service.weight', '2:11', 'expected number to be >=1'],
      ['inbound.listen', '4:11', 'port must be 0-65535'],
      ['upstreams.billing.endpoints[0]', '8:17', 'expected host:port'],
      ['upstreams.billing.balancing.hashHeader', '9:5', 'ring_hash needs hashHeader'],
      ['upstreams.billing.balancing.ringSize', '9:47', 'expected number to be >=64'],
      ['connection.connectTimeoutMs', '10:33', 'expected number to be >=10'],
      ['connection.maxSessions', '10:37', 'did you mean "maxSessionsPerEndpoint"?'],
    ],
  },
];

describe('loadBootstrap rejects invalid documents', () => {
  for (const c of invalid) {
    it(`${c.name}`, async () => {
      const issues = await issuesOf(c.doc);
      const actual = issues.map((i) => [i.path, `${i.line}:${i.column}`, i.message]);
      expect(actual, issues.map(formatIssue).join('\n')).toHaveLength(c.issues.length);
      c.issues.forEach(([path, at, message], n) => {
        expect(actual[n]?.[0], `issue ${n} path`).toBe(path);
        expect(actual[n]?.[1], `issue ${n} position`).toBe(at);
        expect(actual[n]?.[2], `issue ${n} message`).toContain(message);
      });
      for (const i of issues) expect(i.file).toBe(FILE);
    });
  }

  it('reports an unreadable source as an issue without a position', async () => {
    const broken: ConfigSource = { name: 'gone.yaml', read: () => Promise.reject(new Error('ENOENT: no such file')) };
    const result = await loadBootstrap(broken, {});
    expect(result).toEqual({
      ok: false,
      errors: [{ file: 'gone.yaml', line: 0, column: 0, path: '', message: 'cannot read: ENOENT: no such file' }],
    });
  });
});

describe('loadBootstrap accepts valid documents', () => {
  const minimal = yaml('service:', '  name: user-service', 'inbound:', '  app: 127.0.0.1:50051');

  it('applies every default', async () => {
    const result = await load(minimal);
    expect(result).toEqual({
      ok: true,
      config: {
        service: { name: 'user-service', tags: [], meta: {}, weight: 1 },
        inbound: { listen: '0.0.0.0:6143', app: '127.0.0.1:50051' },
        upstreams: {},
        connection: {
          connectTimeoutMs: 3000,
          keepaliveIntervalMs: 10_000,
          keepaliveTimeoutMs: 20_000,
          idleTimeoutMs: 60_000,
          maxSessionsPerEndpoint: 8,
          maxStreamsPerSession: 25,
        },
        admin: { listen: '127.0.0.1:6191' },
        log: { level: 'info', accessLog: true },
        http2: {
          streamWindowBytes: 1 << 20,
          connectionWindowBytes: 16 << 20,
          maxConcurrentStreams: 128,
          memoryBudgetBytes: 64 << 20,
          maxHeaderListBytes: 65_536,
          handshakeTimeoutMs: 10_000,
          idleTimeoutMs: 300_000,
        },
        shutdown: { drainTimeoutMs: 30_000 },
      },
    });
  });

  it('applies defaults inside backends, endpoints and consul', async () => {
    const result = await load(
      yaml(
        'service: { name: a }',
        'outbound: {}',
        'upstreams:',
        '  billing: { endpoints: [10.0.0.1:9090, { address: 10.0.0.2:9090 }] }',
        'consul: {}',
      ),
    );
    if (!result.ok) throw new Error(result.errors.map(formatIssue).join('\n'));
    expect(result.config.outbound).toEqual({ listen: '127.0.0.1:6140' });
    expect(result.config.upstreams['billing']).toEqual({
      endpoints: ['10.0.0.1:9090', { address: '10.0.0.2:9090', weight: 1 }],
      balancing: { policy: 'least_request', ringSize: 1024 },
    });
    expect(result.config.consul).toEqual({
      address: 'http://127.0.0.1:8500',
      register: true,
      waitMs: 30_000,
      idleWatchTimeoutMs: 300_000,
      requestTimeoutMs: 10_000,
      maxResponseBytes: 64 * 1024 * 1024,
      watch: { minIntervalMs: 100, cpuShare: 0.035, maxCostWaitMs: 3000, backoffBaseMs: 100, backoffMaxMs: 800, logIntervalMs: 10_000 },
      check: { intervalMs: 10_000, timeoutMs: 2000, deregisterCriticalAfterMs: 60_000 },
    });
  });

  it('deep-freezes the result', async () => {
    const result = await load(yaml('service: { name: a, tags: [x] }', 'outbound: {}', 'upstreams: { b: {} }'));
    if (!result.ok) throw new Error('expected a valid document');
    const c = result.config;
    for (const o of [c, c.service, c.service.tags, c.connection, c.upstreams, c.upstreams['b'], c.upstreams['b']?.balancing]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(() => {
      (c.connection as { connectTimeoutMs: number }).connectTimeoutMs = 1;
    }).toThrow(TypeError);
  });

  it("does not freeze the schema's own default values", async () => {
    await load(minimal);
    const direct = bootstrapSchema.parse({ service: { name: 'a' }, outbound: {} });
    expect(Object.isFrozen(direct.connection)).toBe(false);
    expect(Object.isFrozen(direct.service.tags)).toBe(false);
  });

  it('keeps YAML 1.2 scalars as written (yes is a string, not a boolean)', async () => {
    const result = await load(yaml('service: { name: a, meta: { enabled: yes } }', 'outbound: {}'));
    expect(result.ok && result.config.service.meta).toEqual({ enabled: 'yes' });
  });

  it('accepts JSON, which is YAML', async () => {
    const result = await load(JSON.stringify({ service: { name: 'proxy' }, inbound: { listen: '[::1]:0', app: '127.0.0.1:1' } }));
    expect(result.ok).toBe(true);
  });
});
