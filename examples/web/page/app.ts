// SPDX-License-Identifier: Apache-2.0
// The gRPC-Web demo page's script (bundled by esbuild into app.js): three calls to user-service through meshlet,
// each rendered into the page. The API origin is `?api=` (the demo passes it), default http://127.0.0.1:7180.

import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { UserService } from '../gen/user_pb.js';

const api = new URLSearchParams(location.search).get('api') ?? 'http://127.0.0.1:7180';
const client = createClient(UserService, createGrpcWebTransport({ baseUrl: api, useBinaryFormat: true }));
const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement;
$('api').textContent = api;

/** `NOT_FOUND: no user u-999`, the way grpc status names are usually written. */
function describe(err: unknown): string {
  const e = ConnectError.from(err);
  const name = Code[e.code].replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
  return `${name}: ${e.rawMessage}`;
}

async function getUser(): Promise<void> {
  try {
    const user = await client.getUser({ id: 'u-1' });
    $('user').textContent = `${user.id} ${user.name} <${user.email}>`;
  } catch (err) {
    $('user').textContent = describe(err);
    $('user').className = 'status error';
  }
}

async function listUsers(): Promise<void> {
  const list = $('users');
  const started = performance.now();
  try {
    let n = 0;
    // Page size 1: the server writes one user per read, so rows arrive one by one.
    for await (const user of client.listUsers({ pageSize: 1 })) {
      const li = document.createElement('li');
      li.textContent = `${user.id} ${user.name}`;
      li.dataset.ms = String(Math.round(performance.now() - started));
      list.append(li);
      n++;
    }
    $('list-status').textContent = `done: ${n} users`;
  } catch (err) {
    $('list-status').textContent = describe(err);
    $('list-status').className = 'status error';
  }
}

async function failing(): Promise<void> {
  try {
    const user = await client.getUser({ id: 'u-999' });
    $('error').textContent = `unexpected success: ${user.id}`;
  } catch (err) {
    $('error').textContent = describe(err);
    $('error').className = 'status error';
  }
}

await Promise.all([getUser(), listUsers(), failing()]);
$('done').textContent = 'all calls done';
