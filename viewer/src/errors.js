// Every failure the page expects (a refused key, an unreachable API, a refused request) becomes one
// sentence for the notice area; nothing here reaches the console.

/** An answer of the API outside 2xx, with what its JSON body said. */
export class ApiError extends Error {
  /**
   * @param {{status: number, message?: string, code?: string, details?: Record<string, unknown>}} answer
   */
  constructor({ status, message, code, details }) {
    super(message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    /** the API's message, "" when the body had none */
    this.apiMessage = message || "";
    this.code = code || "";
    this.details = details || {};
  }
}

/** A file the API is still making (answered 202): ask again after `retryAfter` seconds. */
export class NotReadyError extends Error {
  /** @param {{message?: string, retryAfter?: number}} answer */
  constructor({ message, retryAfter }) {
    super(message || "Not ready yet");
    this.name = "NotReadyError";
    this.retryAfter = clampRetryAfter(retryAfter);
  }
}

/** fetch() itself failed: no answer came (offline, DNS, refused connection, CORS). */
export class NetworkError extends Error {
  /** @param {string} url @param {unknown} cause */
  constructor(url, cause) {
    super(`Cannot reach ${url}`);
    this.name = "NetworkError";
    this.url = url;
    this.cause = cause;
  }
}

/**
 * Seconds to wait before asking again: what the API said, kept between 1 s and a minute so a
 * missing or absurd value neither hammers the API nor stalls the page.
 * @param {unknown} value
 */
export function clampRetryAfter(value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) return 5;
  return Math.min(60, Math.max(1, Math.round(n)));
}

/** @param {unknown} error */
export function isKeyRefused(error) {
  return error instanceof ApiError && (error.status === 403 || error.status === 401);
}

/** @param {unknown} error */
export function isAbort(error) {
  return error instanceof Error && error.name === "AbortError";
}

const MAX_MESSAGE = 300;

/** @param {string} text */
function tidy(text) {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > MAX_MESSAGE ? `${one.slice(0, MAX_MESSAGE - 1)}…` : one;
}

/** @param {string} text */
function sentence(text) {
  const t = tidy(text);
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?…)]$/.test(first) ? first : `${first}.`;
}

/**
 * One readable sentence for an error, or null for one not worth saying (an abort the page asked for).
 * @param {unknown} error
 * @param {{apiBase?: string, action?: string}} [context] action: what was being done, e.g. "Deleting IMG_1.jpg"
 * @returns {string | null}
 */
export function describeError(error, context = {}) {
  if (isAbort(error)) return null;
  const prefix = context.action ? `${context.action} failed: ` : "";
  if (error instanceof NetworkError) {
    return `Cannot reach the API at ${context.apiBase || error.url}. Check the connection and that the API is running, then try again.`;
  }
  if (error instanceof ApiError) {
    const said = error.apiMessage;
    switch (true) {
      case error.status === 401 || error.status === 403:
        return "That API key was refused. Check it and enter it again.";
      case error.status === 404:
        return `${prefix}${sentence(said || "not found; it may have been deleted")}`;
      case error.status === 429:
        return `${prefix}The API is busy (too many requests). Wait a moment and try again.`;
      case error.status === 413:
        return `${prefix}${sentence(said || "the file is too large")}`;
      case error.status === 415:
        return `${prefix}${sentence(said || "this file type is not supported")}`;
      case error.status >= 500:
        return `${prefix}${sentence(said || `the API failed (HTTP ${error.status}); try again later`)}`;
      default:
        return `${prefix}${sentence(said || `the API answered HTTP ${error.status}`)}`;
    }
  }
  if (error instanceof NotReadyError) {
    return `${prefix}${sentence(error.message)} Trying again in ${error.retryAfter} s.`;
  }
  if (error instanceof Error && error.message) return `${prefix}${sentence(error.message)}`;
  return `${prefix}Something went wrong.`;
}
