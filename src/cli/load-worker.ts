// SPDX-License-Identifier: Apache-2.0
// Worker thread entry: validates what `meshlet run` or `meshlet proxy` starts from, with the one load pipeline,
// and posts the result to the sidecar's thread (see ./off-thread.ts for why it runs here).

import { parentPort, workerData } from 'node:worker_threads';
import { loadQuickMode, type QuickModeFlags } from '../config/quick-mode.js';
import { fileSource, type Env } from '../config/source.js';
import { loadStartup } from './startup.js';

/** What to validate: `run`'s bootstrap file (with env overrides and the policy it names), or quick mode's flags. */
export type LoadRequest = { readonly kind: 'startup'; readonly file: string; readonly env: Env } | { readonly kind: 'quick'; readonly flags: QuickModeFlags };

const request = workerData as LoadRequest;
parentPort?.postMessage(request.kind === 'startup' ? await loadStartup(fileSource(request.file), request.env) : await loadQuickMode(request.flags));
