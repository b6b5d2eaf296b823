// SPDX-License-Identifier: Apache-2.0
// The injector's HTTPS server: POST /inject (any path) → read the body (bounded) → answerReview() → JSON. Reloads
// its certificate and key when their files change (a Secret update or cert-manager renewal swaps them in place).
// Never crashes on input: every failure is an AdmissionReview answer per the failure policy, and a log line.

import https from 'node:https';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { splitHostPort } from '../net/address.js';
import type { Logger } from '../telemetry/logger.js';
import type { InjectorMetrics } from '../telemetry/metrics.js';
import { answerReview, failed, type ReviewAnswer } from './review.js';
import type { InjectorSettings } from './settings.js';

export interface WebhookOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly settings: InjectorSettings;
  readonly log: Logger;
  readonly metrics: InjectorMetrics;
  /** Quiet time after a change to the certificate files before they are re-read, ms; default 200. */
  readonly reloadDebounceMs?: number;
}

export interface Webhook {
  readonly address: AddressInfo;
  /** Re-reads the certificate and key now; resolves true when the new pair is in use (else the old one is kept). */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

/** Starts the webhook; rejects when the certificate cannot be read or the address cannot be bound. */
export async function startWebhook(options: WebhookOptions): Promise<Webhook> {
  const { log, metrics, settings } = options;
  const read = async () => ({ cert: await readFile(options.certFile), key: await readFile(options.keyFile) });
  const server = https.createServer({ ...(await read()), minVersion: 'TLSv1.2' }, (req, res) => {
    void handle(req, res);
  });
  // A client that hangs up or speaks garbage costs a log line, never the process.
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'webhook TLS handshake failed'));
  server.on('clientError', (err, socket) => socket.destroy(err));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    let answer: ReviewAnswer;
    let status = 200;
    try {
      const body = await readBody(req, settings.maxBodyBytes);
      if (req.method !== 'POST') answer = failed('', `method ${req.method}: expected POST`, settings);
      else if (body === undefined) {
        status = 413;
        answer = failed('', `the body exceeds maxBodyBytes (${settings.maxBodyBytes})`, settings);
      } else answer = answerReview(body, settings);
    } catch (err) {
      answer = failed('', `reading the request failed: ${(err as Error).message}`, settings);
    }
    metrics.reviews.inc({ result: answer.result });
    const fields = { result: answer.result, reason: answer.reason, namespace: answer.namespace, pod: answer.name };
    if (answer.result === 'error' || answer.result === 'denied') log.warn(fields, 'admission review not injected');
    else log.info(fields, 'admission review answered');
    const text = JSON.stringify(answer.review);
    if (!res.destroyed) {
      // After a refused body the rest of it is unread: close the connection rather than parse it as a request.
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...(status === 413 && { connection: 'close' }),
      });
      res.end(text);
    }
    metrics.reviewSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  async function reload(): Promise<boolean> {
    try {
      // setSecureContext throws on a key that does not match the certificate: the old context stays.
      server.setSecureContext(await read());
      metrics.certReloads.inc({ result: 'ok' });
      log.info({ certFile: options.certFile }, 'webhook certificate reloaded');
      return true;
    } catch (err) {
      metrics.certReloads.inc({ result: 'error' });
      log.warn({ err: (err as Error).message, certFile: options.certFile }, 'webhook certificate reload failed; keeping the previous one');
      return false;
    }
  }

  // Watch the directories, not the files: a Secret volume swaps a symlink, which a file watch does not see.
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  for (const dir of new Set([dirname(options.certFile), dirname(options.keyFile)])) {
    const w = watch(dir, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), options.reloadDebounceMs ?? 200);
    });
    w.on('error', (err) => log.warn({ err: err.message, dir }, 'watching the webhook certificate directory failed'));
    watchers.push(w);
  }

  const { host, port } = splitHostPort(options.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    for (const w of watchers) w.close();
    throw err;
  });
  return {
    address: server.address() as AddressInfo,
    reload,
    close: () =>
      new Promise((resolve) => {
        clearTimeout(timer);
        for (const w of watchers) w.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The body as UTF-8, or undefined once it passes `maxBytes` (the rest is not read). */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
