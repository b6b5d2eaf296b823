// SPDX-License-Identifier: Apache-2.0
// The tracing layers use SPAN_KIND instead of importing OpenTelemetry's SpanKind (so the SDK loads only when tracing
// is on); the constants must stay equal to the API's values.

import { SpanKind } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { SPAN_KIND, TracedCall } from '../../../src/telemetry/traced-call.js';
import { TracedCall as FromTracing } from '../../../src/telemetry/tracing.js';

describe('traced-call', () => {
  it('SPAN_KIND equals OpenTelemetry SpanKind for the kinds meshlet uses', () => {
    expect(SPAN_KIND).toEqual({ INTERNAL: SpanKind.INTERNAL, SERVER: SpanKind.SERVER, CLIENT: SpanKind.CLIENT });
  });

  it('tracing.ts hands out the same TracedCall class the layers check against', () => {
    expect(FromTracing).toBe(TracedCall);
  });
});
