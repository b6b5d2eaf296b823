// SPDX-License-Identifier: Apache-2.0
// SETTINGS of the engine (RFC 9113 §6.5): the connection options, what we advertise, and applying the peer's.

import { encodeSettings, parseSettings, type Settings, SettingId } from './frame.js';
import type { MemoryBudget } from './memory-budget.js';

/** Which end of the connection we are: a listener's (server) or an upstream session's (client). */
export type Role = 'server' | 'client';

/** Options of an H2Connection. */
export interface H2ConnectionOptions {
  readonly role: Role;
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise: per-stream receive window. Default 1 MiB, range 65535..2^31-1. */
  readonly streamWindowBytes?: number;
  /** Connection receive window. Default 16 MiB, range 65535..2^31-1. */
  readonly connectionWindowBytes?: number;
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS we advertise and enforce (server): streams over it are refused with
   * REFUSED_STREAM. Default: unlimited (not sent); the listeners pass `http2.maxConcurrentStreams` (default 128).
   */
  readonly maxConcurrentStreams?: number;
  /**
   * Server: the memory budget this connection's streams share with the process's other connections
   * (memory-budget.ts); while it is spent, new streams are refused (REFUSED_STREAM). Default: none.
   */
  readonly memoryBudget?: MemoryBudget;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce. Default 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /**
   * Bytes we may have queued in the socket, unsent because the peer does not read, before the connection is closed
   * with ENHANCE_YOUR_CALM (a peer that floods PINGs or SETTINGS and never reads the ACKs). DATA stops at 1 MiB on
   * its own; this bounds the rest. Default 32 MiB.
   */
  readonly maxUnsentBytes?: number;
  /**
   * Server: a peer that has not sent its connection preface and SETTINGS this long after connecting is closed
   * (GOAWAY SETTINGS_TIMEOUT): port scanners, stuck clients and slowloris sockets do not stay forever. Default
   * 10000 ms; 0 turns it off.
   */
  readonly handshakeTimeoutMs?: number;
}

// The SETTINGS exchange, as the engine does it:
// 1. Each side's preface ends with its SETTINGS (§3.4): a client sends the preface string first, a server its
//    SETTINGS as its first frame. Ours is queued when the connection is made, with the windows' WINDOW_UPDATE.
// 2. Until the peer's first SETTINGS arrives, any other frame is a connection error (PROTOCOL_ERROR, connection.ts);
//    a server also gives up after `handshakeTimeoutMs` (guards.ts).
// 3. Each SETTINGS from the peer is applied in full and in order, then acknowledged (§6.5.3): its values replace
//    ours of the peer (`remoteSettings`), every open stream's send window moves with SETTINGS_INITIAL_WINDOW_SIZE
//    (§6.9.2, flow-control.ts), the HPACK encoder follows SETTINGS_HEADER_TABLE_SIZE, and client streams waiting for
//    SETTINGS_MAX_CONCURRENT_STREAMS may open.
// 4. The ACK of our SETTINGS is not waited for: our values and limits apply from the start.

/** Our settings and limits: the options with their defaults applied. */
export class LocalSettings {
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise: each stream's receive window. */
  readonly streamWindow: number;
  /** The connection's receive window (announced by WINDOW_UPDATE on stream 0). */
  readonly connectionWindow: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise and enforce; Infinity when unlimited (then not sent). */
  readonly maxStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (also the HPACK decoder's limit). */
  readonly maxHeaderListBytes: number;
  /** Guard: bytes the peer may leave unread in our socket (guards.ts). */
  readonly maxUnsentBytes: number;
  /** Guard (server): how long the peer has for its preface and SETTINGS; 0 = forever (guards.ts). */
  readonly handshakeTimeoutMs: number;

  constructor(opts: H2ConnectionOptions) {
    this.streamWindow = opts.streamWindowBytes ?? 1 << 20;
    this.connectionWindow = opts.connectionWindowBytes ?? 16 << 20;
    this.maxStreams = opts.maxConcurrentStreams ?? Infinity;
    this.maxHeaderListBytes = opts.maxHeaderListBytes ?? 64 * 1024;
    this.maxUnsentBytes = opts.maxUnsentBytes ?? 32 * 1024 * 1024;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000;
  }

  /**
   * Our SETTINGS frame (§6.5.2): push disabled (gRPC never uses it), our stream window and header list limit, and
   * the stream limit when there is one.
   */
  frame(): Buffer {
    const settings: Array<[number, number]> = [
      [SettingId.ENABLE_PUSH, 0],
      [SettingId.INITIAL_WINDOW_SIZE, this.streamWindow],
      [SettingId.MAX_HEADER_LIST_SIZE, this.maxHeaderListBytes],
    ];
    if (this.maxStreams !== Infinity) settings.push([SettingId.MAX_CONCURRENT_STREAMS, this.maxStreams]);
    return encodeSettings(settings);
  }
}

/**
 * Applies a SETTINGS payload from the peer to `remote`, our copy of its settings (step 3). Returns how much its
 * SETTINGS_INITIAL_WINDOW_SIZE changed, which every open stream's send window follows (§6.9.2). Throws FrameError
 * for an invalid value (§6.5.2, frame.ts). A server's ENABLE_PUSH=1, which §6.5.2 forbids, is tolerated: we never
 * take pushes anyway (ours is 0, and PUSH_PROMISE is a connection error); from a client it is just its preference.
 */
export function applyPeerSettings(remote: Settings, payload: Buffer): number {
  const oldWindow = remote.initialWindowSize;
  parseSettings(payload, 0, payload.length, remote);
  return remote.initialWindowSize - oldWindow;
}
