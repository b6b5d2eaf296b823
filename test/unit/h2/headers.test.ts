// SPDX-License-Identifier: Apache-2.0
// Table tests for the header list <-> header object conversions and the RFC 9113 §8.2-8.3 message checks.

import { sensitiveHeaders } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { type BlockKind, HeaderBlock, headerBlockOf, HeaderEdits, sealReceived, toHeaderList, toHeaderObject } from '../../../src/h2/headers.js';

const REQ = [':method', 'POST', ':scheme', 'http', ':authority', 'a', ':path', '/s/M'];

describe('toHeaderObject', () => {
  const valid: Array<[string, BlockKind, string[], Record<string, unknown>]> = [
    ['request', 'request', [...REQ, 'te', 'trailers'], { ':method': 'POST', ':scheme': 'http', ':authority': 'a', ':path': '/s/M', te: 'trailers' }],
    ['repeated keys become an array in order', 'request', [...REQ, 'x-k', '1', 'x-k', '2', 'x-k', '3'], { 'x-k': ['1', '2', '3'] }],
    ['empty value', 'request', [...REQ, 'x-e', ''], { 'x-e': '' }],
    ['latin1 bytes in a value', 'request', [...REQ, 'x-b', '\u0001\u00ff\u0080'], { 'x-b': '\u0001\u00ff\u0080' }],
    ['inner spaces in a value', 'request', [...REQ, 'x-s', 'a b\tc'], { 'x-s': 'a b\tc' }],
    ['__proto__ is a plain key', 'request', [...REQ, '__proto__', 'x'], { __proto__: 'x' }],
    ['CONNECT needs no :path/:scheme', 'request', [':method', 'CONNECT', ':authority', 'a:443'], { ':method': 'CONNECT' }],
    ['response :status is a number', 'response', [':status', '200', 'grpc-status', '0'], { ':status': 200, 'grpc-status': '0' }],
    ['informational response', 'response', [':status', '100'], { ':status': 100 }],
    ['trailers', 'trailers', ['grpc-status', '0', 'grpc-message', 'ok'], { 'grpc-status': '0', 'grpc-message': 'ok' }],
    ['empty trailers', 'trailers', [], {}],
  ];
  it.each(valid)('accepts %s', (_name, kind, list, expected) => {
    const out = toHeaderObject(list, kind);
    expect(typeof out).toBe('object');
    const obj = out as Record<string, unknown>;
    for (const [k, v] of Object.entries(expected)) expect(obj[k]).toEqual(v);
    // Nothing with behaviour on the chain: no Object.prototype, so header names cannot shadow or pollute it.
    expect(Object.getPrototypeOf(Object.getPrototypeOf(obj))).toBeNull();
    expect(Object.getOwnPropertyNames(Object.getPrototypeOf(obj))).toEqual([]);
  });

  it('keeps names like __proto__ and constructor as plain header keys', () => {
    const out = toHeaderObject([...REQ, '__proto__', 'x', 'constructor', 'y'], 'request') as Record<string, unknown>;
    expect(Object.keys(out)).toContain('__proto__');
    expect(out['constructor']).toBe('y');
    expect(Object.getPrototypeOf(Object.getPrototypeOf(out))).toBeNull();
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  const invalid: Array<[string, BlockKind, string[], RegExp]> = [
    ['upper-case name', 'request', [...REQ, 'X-Up', 'v'], /upper-case/],
    ['empty name', 'request', [...REQ, '', 'v'], /empty header name/],
    ['missing :method', 'request', REQ.slice(2), /missing :method/],
    ['missing :path', 'request', [':method', 'POST', ':scheme', 'http'], /:path/],
    ['empty :path', 'request', [':method', 'POST', ':scheme', 'http', ':path', ''], /:path/],
    ['missing :scheme', 'request', [':method', 'POST', ':path', '/'], /:scheme/],
    ['pseudo-header after a regular one', 'request', ['x', '1', ...REQ], /after a regular header/],
    ['unknown request pseudo-header', 'request', [...REQ.slice(0, 2), ':status', '200', ...REQ.slice(2)], /unknown pseudo-header :status/],
    ['repeated pseudo-header', 'request', [...REQ, ':path', '/x'].slice(0, 8).concat([':path', '/y']), /repeated pseudo-header :path/],
    ['connection: keep-alive', 'request', [...REQ, 'connection', 'keep-alive'], /connection-specific/],
    ['transfer-encoding', 'request', [...REQ, 'transfer-encoding', 'chunked'], /connection-specific/],
    ['upgrade', 'request', [...REQ, 'upgrade', 'h2c'], /connection-specific/],
    ['te: gzip', 'request', [...REQ, 'te', 'gzip'], /te: gzip/],
    ['response without :status', 'response', ['grpc-status', '0'], /:status/],
    ['non-numeric :status', 'response', [':status', '2xx'], /:status/],
    ['request pseudo-header in a response', 'response', [':status', '200', ':path', '/'], /unknown pseudo-header :path/],
    ['pseudo-header in trailers', 'trailers', [':status', '200'], /in trailers/],
    // RFC 9113 §8.2.1: names only visible ASCII (values are checked by the HPACK decoder: hpack/field-values.test.ts).
    ['a space in a name', 'request', [...REQ, 'x v', '1'], /invalid character/],
    ['DEL in a name', 'request', [...REQ, 'x\u007f', '1'], /invalid character/],
  ];
  it.each(invalid)('rejects %s', (_name, kind, list, message) => {
    const out = toHeaderObject(list, kind);
    expect(typeof out).toBe('string');
    expect(out).toMatch(message);
  });
});

describe('toHeaderList', () => {
  const table: Array<[string, Record<string, unknown>, string[]]> = [
    ['pseudo-headers first, whatever the key order', { 'x-a': '1', ':path': '/p', ':method': 'GET' }, [':path', '/p', ':method', 'GET', 'x-a', '1']],
    ['names lower-cased', { 'X-Mixed': 'v' }, ['x-mixed', 'v']],
    ['numbers as strings', { ':status': 200, 'content-length': 5 }, [':status', '200', 'content-length', '5']],
    ['arrays as repeated entries in order', { 'x-k': ['1', '2'] }, ['x-k', '1', 'x-k', '2']],
    ['undefined and null skipped', { 'x-u': undefined, 'x-n': null, 'x-v': '' }, ['x-v', '']],
    ['connection-specific headers dropped', { connection: 'keep-alive', 'keep-alive': '5', 'transfer-encoding': 'chunked', upgrade: 'x', 'x-ok': '1' }, ['x-ok', '1']],
    ['te kept only as trailers', { te: 'trailers' }, ['te', 'trailers']],
    ['te other than trailers dropped', { te: 'gzip' }, []],
    ['latin1 values unchanged', { 'x-bin': '\u0000\u00ff' }, ['x-bin', '\u0000\u00ff']],
  ];
  it.each(table)('%s', (_name, headers, expected) => {
    const { list, neverIndexed } = toHeaderList(headers as never);
    expect(list).toEqual(expected);
    expect(neverIndexed).toBeUndefined();
  });

  it('returns the names listed under http2.sensitiveHeaders as never-indexed', () => {
    const { list, neverIndexed } = toHeaderList({ authorization: 'secret', 'x-a': '1', [sensitiveHeaders]: ['authorization'] } as never);
    expect(list).toEqual(['authorization', 'secret', 'x-a', '1']);
    expect(neverIndexed).toEqual(['authorization']);
  });

  it('round-trips through toHeaderObject', () => {
    const headers = { ':method': 'POST', ':scheme': 'https', ':authority': 'svc', ':path': '/a/B', 'x-r': ['1', '2'], 'x-bin': '\u00fe' };
    const back = toHeaderObject(toHeaderList(headers).list, 'request') as Record<string, unknown>;
    expect({ ...back }).toEqual(headers);
  });
});

describe('a received block forwarded as its list (sealReceived, headerBlockOf)', () => {
  const received = (list: string[], neverIndexed: string[] = []) => sealReceived(toHeaderObject(list, 'request') as never, list, neverIndexed);

  it('sends the list as it arrived, repeated names in their own order, not regrouped by name', () => {
    const list = [...REQ, 'x-a', '1', 'x-b', '2', 'x-a', '3'];
    const h = received(list);
    expect(headerBlockOf(h).list).toEqual(list);
    // What converting the object back would have sent: x-a's values together.
    expect(toHeaderList(h).list).toEqual([...REQ, 'x-a', '1', 'x-a', '3', 'x-b', '2']);
  });

  it('copies the decoder\'s reused arrays, so the next block cannot change this one', () => {
    const list = [...REQ, 'x-a', '1'];
    const never = ['x-a'];
    const h = received(list, never);
    list[list.length - 1] = 'changed';
    never.push('x-other');
    expect(headerBlockOf(h)).toEqual(new HeaderBlock([...REQ, 'x-a', '1'], ['x-a']));
    expect((h as Record<symbol, unknown>)[sensitiveHeaders]).toEqual(['x-a']);
  });

  it('is frozen: a layer that writes to it throws instead of being silently ignored on the wire', () => {
    const h = received([...REQ, 'x-a', '1']) as Record<string, unknown>;
    expect(Object.isFrozen(h)).toBe(true);
    expect(() => {
      h['x-a'] = '2';
    }).toThrow(TypeError);
    expect(() => {
      delete h['x-a'];
    }).toThrow(TypeError);
  });

  it('freezes the values of a repeated name too: a push would be lost on the wire', () => {
    const h = received([...REQ, 'x-k', '1', 'x-k', '2', 'x-k', '3']) as Record<string, string[]>;
    expect(h['x-k']).toEqual(['1', '2', '3']);
    expect(() => h['x-k']?.push('4')).toThrow(TypeError);
  });

  it('flattens a copy (a spread is not sealed), so a changed copy sends what it holds', () => {
    const h = received([...REQ, 'x-a', '1']);
    const copy = { ...h, 'x-a': '2' };
    expect(headerBlockOf(copy).list).toEqual([...REQ, 'x-a', '2']);
  });

  it('passes a HeaderBlock through and flattens a plain object', () => {
    const block = new HeaderBlock(['x-a', '1'], undefined);
    expect(headerBlockOf(block)).toBe(block);
    expect(headerBlockOf({ 'x-a': ['1', '2'] }).list).toEqual(['x-a', '1', 'x-a', '2']);
  });
});

describe('HeaderEdits', () => {
  const base = new HeaderBlock([...REQ, 'grpc-timeout', '5S', 'x-k', '1', 'x-keep', 'a', 'x-k', '2'], ['x-keep']);

  it('replaces every value of a set name, after the fields it leaves alone, and keeps pseudo-headers first', () => {
    const edits = new HeaderEdits();
    edits.set('x-k', '9');
    edits.set('grpc-timeout', '4S');
    const out = edits.apply(base);
    expect(out.list).toEqual([...REQ, 'x-keep', 'a', 'x-k', '9', 'grpc-timeout', '4S']);
    expect(out.neverIndexed).toEqual(['x-keep']);
  });

  it('lets the last change to a name win, delete included, and deletes names that were never there quietly', () => {
    const edits = new HeaderEdits();
    edits.set('x-k', '9');
    edits.delete('x-k');
    edits.delete('x-absent');
    edits.set('grpc-timeout', '1S');
    edits.set('grpc-timeout', '2S');
    expect(edits.apply(base).list).toEqual([...REQ, 'x-keep', 'a', 'grpc-timeout', '2S']);
    expect(edits.get('x-k')).toBeNull();
    expect(edits.get('grpc-timeout')).toBe('2S');
    expect(edits.get('x-keep')).toBeUndefined();
  });

  it('adds the names it marks never-indexed to those that arrived, once each', () => {
    const edits = new HeaderEdits();
    edits.set('traceparent', 'a', true);
    edits.set('traceparent', 'b', true);
    expect(edits.apply(base).neverIndexed).toEqual(['x-keep', 'traceparent']);
    expect(edits.apply(new HeaderBlock(REQ, undefined)).neverIndexed).toEqual(['traceparent']);
  });

  it('leaves the block it applies to as it was (a retry applies again to the same one)', () => {
    const edits = new HeaderEdits();
    edits.set('x-k', '9');
    const before = [...base.list];
    edits.apply(base);
    expect(base.list).toEqual(before);
    expect(base.neverIndexed).toEqual(['x-keep']);
  });

  it('refuses pseudo-headers and names that are not lower-case', () => {
    const edits = new HeaderEdits();
    expect(() => edits.set(':path', '/x')).toThrow(/":path" is not a lower-case regular header name/);
    expect(() => edits.set('X-Up', '1')).toThrow(/"X-Up"/);
    expect(() => edits.delete('')).toThrow(/""/);
  });
});
