// SPDX-License-Identifier: Apache-2.0
// What one hot-reload attempt of a watched file did; shared by the watcher and the decision hooks that count it.

/** The new file was applied, rejected (the last good one stays), or was the same as the one in force. */
export type ReloadResult = 'applied' | 'rejected' | 'unchanged';
