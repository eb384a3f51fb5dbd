/**
 * How kumo reads the answer of another host, kumo or pico engine. Kumo answers errors with a real
 * status and `{"error": {"code", "message"}}`; a pico engine answers them with HTTP 200 and
 * `{"error": "…"}`, and a query whose result is null with an empty body. Read here, the first is a
 * failure and the second is null, whoever answered.
 */

/** An answer: a value, or a failure with what the host said about it. */
export type Answer =
  | { ok: true; value: unknown }
  | {
      ok: false;
      status: number;
      /** The kumo error code, when the host sent one. */
      code: string | undefined;
      message: string;
      body: unknown;
      /** Worth another try: the host was busy or broken (429, 5xx), not refusing. */
      transient: boolean;
    };

/** Read a response's status and body text. */
export function readAnswer(status: number, text: string): Answer {
  let body: unknown = null;
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (status >= 200 && status < 300) {
    if (isPicoError(body)) return { ok: false, status, code: undefined, message: body.error, body, transient: false };
    return { ok: true, value: body };
  }
  const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  const wire = typeof error === 'object' && error !== null ? (error as { code?: unknown; message?: unknown }) : {};
  const message = typeof wire.message === 'string' ? wire.message : typeof error === 'string' ? error : (typeof body === 'string' && body) || `HTTP ${status}`;
  return { ok: false, status, code: typeof wire.code === 'string' ? wire.code : undefined, message, body, transient: status === 429 || status >= 500 };
}

/** The pico engine's error answer: exactly `{"error": "…"}`. */
function isPicoError(body: unknown): body is { error: string } {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 1 && typeof (body as { error?: unknown }).error === 'string';
}
