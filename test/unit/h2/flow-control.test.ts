// SPDX-License-Identifier: Apache-2.0
// Flow-control window arithmetic (src/h2/flow-control.ts) on its own: the connection's windows and a stream's,
// receiving (overrun, credit at half the window) and sending (WINDOW_UPDATE, SETTINGS changes, overflow).

import { describe, expect, it } from 'vitest';
import { ConnectionError } from '../../../src/h2/errors.js';
import {
  ConnectionFlow,
  DEFAULT_WINDOW,
  growSendWindow,
  MAX_WINDOW,
  releaseStream,
  type StreamWindows,
  takeRecvWindow,
  takeStreamCredit,
} from '../../../src/h2/flow-control.js';
import { ErrorCode } from '../../../src/h2/frame.js';

function codeOf(f: () => void): number | undefined {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectionError);
    return (err as ConnectionError).code;
  }
  return undefined;
}

describe('ConnectionFlow', () => {
  it('opens a receive window larger than the default with one WINDOW_UPDATE, and none for the default', () => {
    const big = new ConnectionFlow(16 << 20);
    expect(big.openRecvWindow()).toBe((16 << 20) - DEFAULT_WINDOW);
    expect(big.recvWindow).toBe(16 << 20);
    const plain = new ConnectionFlow(DEFAULT_WINDOW);
    expect(plain.openRecvWindow()).toBe(0);
    expect(plain.recvWindow).toBe(DEFAULT_WINDOW);
  });

  it('takes DATA from the receive window and fails with FLOW_CONTROL_ERROR only past it', () => {
    const flow = new ConnectionFlow(DEFAULT_WINDOW);
    flow.receive(DEFAULT_WINDOW - 1);
    flow.receive(1);
    expect(flow.recvWindow).toBe(0);
    expect(codeOf(() => flow.receive(1))).toBe(ErrorCode.FLOW_CONTROL_ERROR);
  });

  it('owes a credit once half the window was released, and paying it restores the window', () => {
    const flow = new ConnectionFlow(100_000);
    flow.openRecvWindow();
    flow.receive(80_000);
    expect(flow.release(49_999)).toBe(false);
    expect(flow.release(1)).toBe(true);
    expect(flow.takeCredit()).toBe(50_000);
    expect(flow.unacked).toBe(0);
    expect(flow.recvWindow).toBe(70_000);
    expect(flow.release(30_000)).toBe(false);
  });

  it('WINDOW_UPDATE on the connection: adds, rejects 0 (PROTOCOL_ERROR) and overflow (FLOW_CONTROL_ERROR)', () => {
    const flow = new ConnectionFlow(DEFAULT_WINDOW);
    flow.windowUpdate(100);
    expect(flow.sendWindow).toBe(DEFAULT_WINDOW + 100);
    expect(codeOf(() => flow.windowUpdate(0))).toBe(ErrorCode.PROTOCOL_ERROR);
    flow.sendWindow = 0;
    expect(codeOf(() => flow.windowUpdate(MAX_WINDOW))).toBeUndefined();
    expect(codeOf(() => flow.windowUpdate(1))).toBe(ErrorCode.FLOW_CONTROL_ERROR);
  });
});

describe('stream windows', () => {
  const stream = (): StreamWindows => ({ sendWindow: DEFAULT_WINDOW, recvWindow: 1 << 20, unacked: 0 });

  it('a send window may go negative after a SETTINGS change, and fails only past 2^31-1', () => {
    const s = stream();
    expect(growSendWindow(s, -DEFAULT_WINDOW - 10)).toBe(true);
    expect(s.sendWindow).toBe(-10);
    expect(growSendWindow(s, MAX_WINDOW + 10)).toBe(true);
    expect(s.sendWindow).toBe(MAX_WINDOW);
    expect(growSendWindow(s, 1)).toBe(false);
  });

  it('reports an overrun receive window', () => {
    const s = stream();
    expect(takeRecvWindow(s, 1 << 20)).toBe(true);
    expect(s.recvWindow).toBe(0);
    expect(takeRecvWindow(s, 1)).toBe(false);
  });

  it('owes a stream credit at half its window; paying it moves the credit into the receive window', () => {
    const s = stream();
    takeRecvWindow(s, 1 << 20);
    expect(releaseStream(s, (1 << 19) - 1, 1 << 20)).toBe(false);
    expect(releaseStream(s, 1, 1 << 20)).toBe(true);
    expect(takeStreamCredit(s)).toBe(1 << 19);
    expect(s).toEqual({ sendWindow: DEFAULT_WINDOW, recvWindow: 1 << 19, unacked: 0 });
  });
});
