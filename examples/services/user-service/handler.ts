// SPDX-License-Identifier: Apache-2.0
// user-service gRPC handlers: validate requests, read the repository, map its results to statuses with messages
// a caller can act on. Storage failures become INTERNAL with the cause logged, never sent.

import * as grpc from '@grpc/grpc-js';

import type { Logger } from '../shared/logger.js';
import { silentLogger } from '../shared/logger.js';
import { writeMessage } from '../shared/stream-writer.js';
import type { UserRepository } from './repository.js';
import type { UserServiceHandlers } from './types.js';

/** A well-formed user id: `u-` then a positive integer of at most 9 digits. */
export const USER_ID_PATTERN = /^u-[1-9]\d{0,8}$/;
/** ListUsers page size when the request has none (or 0). */
export const DEFAULT_PAGE_SIZE = 10;
/** Larger requested page sizes are lowered to this (AIP-158). */
export const MAX_PAGE_SIZE = 100;

/** Why `id` is not a valid user id, or undefined when it is. */
export function userIdProblem(id: string): string | undefined {
  if (id === '') return 'id is required';
  if (!USER_ID_PATTERN.test(id)) return `id "${id.slice(0, 64)}" is malformed: expected u-<number>, e.g. u-1`;
  return undefined;
}

/**
 * The page size ListUsers reads with: absent/0 → DEFAULT_PAGE_SIZE, above MAX_PAGE_SIZE → MAX_PAGE_SIZE.
 * @returns a string describing the problem when the request is negative.
 */
export function effectivePageSize(requested: number | undefined): number | string {
  if (requested === undefined || requested === 0) return DEFAULT_PAGE_SIZE;
  if (requested < 0) return `page_size must not be negative, got ${requested}`;
  return Math.min(requested, MAX_PAGE_SIZE);
}

/** Dependencies of the handlers. */
export interface UserHandlerOptions {
  repository: UserRepository;
  /** Default: silent. */
  logger?: Logger;
}

/** The UserService implementation to register on a grpc.Server. */
export function createUserHandlers({ repository, logger = silentLogger() }: UserHandlerOptions): UserServiceHandlers {
  const internal = (err: unknown, what: string): grpc.StatusObject => {
    logger.error({ err }, `${what} failed`);
    return { code: grpc.status.INTERNAL, details: `${what} failed`, metadata: new grpc.Metadata() };
  };

  return {
    GetUser(call, callback) {
      const { id } = call.request;
      const problem = userIdProblem(id);
      if (problem !== undefined) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
        return;
      }
      repository.get(id).then(
        (user) => {
          if (user === undefined) callback({ code: grpc.status.NOT_FOUND, details: `user "${id}" not found` });
          else callback(null, user);
        },
        (err: unknown) => callback(internal(err, 'reading the user store')),
      );
    },

    GetPaymentCard(call, callback) {
      const { userId } = call.request;
      const problem = userIdProblem(userId);
      if (problem !== undefined) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: problem.replace(/^id /, 'user_id ') });
        return;
      }
      repository.paymentCard(userId).then(
        (card) => {
          if (card === undefined) callback({ code: grpc.status.NOT_FOUND, details: `no payment card on file for user "${userId}"` });
          else callback(null, card);
        },
        (err: unknown) => callback(internal(err, 'reading the card store')),
      );
    },

    ListUsers(call) {
      const pageSize = effectivePageSize(call.request.pageSize);
      if (typeof pageSize === 'string') {
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: pageSize });
        return;
      }
      void (async () => {
        let pageToken: string | undefined;
        do {
          const page = await repository.list({ pageSize, pageToken });
          for (const user of page.users) {
            if (!(await writeMessage(call, user))) return; // client gone: stop reading pages
          }
          pageToken = page.nextPageToken;
        } while (pageToken !== undefined && !call.cancelled);
        call.end();
      })().catch((err: unknown) => call.emit('error', internal(err, 'reading the user store')));
    },
  };
}
