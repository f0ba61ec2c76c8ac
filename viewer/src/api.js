// The API client: every call sends the key, every non-2xx answer becomes an ApiError with the API's
// own message, and a file that is still being made (202) becomes a NotReadyError.
import { ApiError, NetworkError, NotReadyError } from "./errors.js";

/**
 * The API's base: the viewer is served at `<base>/viewer/`, so `<base>/` is one level up (the
 * stage prefix of a deployed API, e.g. `/v1/`, is kept).
 * @param {string} baseURI document.baseURI
 */
export function apiBaseFrom(baseURI) {
  return new URL("../", baseURI);
}

/**
 * @typedef {{
 *   base: URL,
 *   getKey: () => string | null,
 *   fetch?: typeof fetch,
 * }} ApiOptions
 * @typedef {{query?: Record<string, string | number | null | undefined>, json?: unknown,
 *   accept?: string, signal?: AbortSignal, cache?: RequestCache}} RequestOptions
 */

/**
 * Reads an error body: `{message}` from the API or API Gateway, or the text of anything else.
 * @param {Response} response
 */
async function readError(response) {
  let text = "";
  try {
    text = await response.text();
  } catch {
    // The body could not be read; the status still says enough.
  }
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") {
      return new ApiError({
        status: response.status,
        message: typeof body.message === "string" ? body.message : typeof body.Message === "string" ? body.Message : "",
        code: typeof body.error === "string" ? body.error : "",
        details: body.details && typeof body.details === "object" ? body.details : {},
      });
    }
  } catch {
    // Not JSON: an HTML error page of a proxy, say. Its text is no message for a person.
  }
  return new ApiError({ status: response.status });
}

/** @param {ApiOptions} options */
export function createApi({ base, getKey, fetch: fetchImpl = globalThis.fetch.bind(globalThis) }) {
  /**
   * @param {string} method
   * @param {string} path relative to `<base>/api/`
   * @param {RequestOptions} [options]
   * @returns {Promise<Response>} a 2xx answer
   */
  async function request(method, path, { query, json, accept, signal, cache = "no-store" } = {}) {
    const url = new URL(`api/${path}`, base);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, String(value));
    }
    /** @type {Record<string, string>} */
    const headers = { Accept: accept || "application/json" };
    const key = getKey();
    if (key) headers["X-Api-Key"] = key;
    /** @type {RequestInit} */
    const init = { method, headers, signal, credentials: "omit", cache };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetchImpl(url.href, init);
    } catch (error) {
      if (error instanceof Error && error.name === "AbortError") throw error;
      throw new NetworkError(base.href, error);
    }
    if (!response.ok) throw await readError(response);
    return response;
  }

  /** @param {Response} response */
  async function jsonOf(response) {
    if (response.status === 204) return null;
    return response.json();
  }

  /** @param {string} id */
  const media = (id) => `media/${encodeURIComponent(id)}`;

  return {
    base,
    request,
    /** @returns {Promise<{status: string, version: string}>} */
    health: async () => jsonOf(await request("GET", "health")),
    /** @param {{cursor?: string | null, limit?: number}} [page] */
    listMedia: async ({ cursor, limit = 25 } = {}) =>
      jsonOf(await request("GET", "media", { query: { limit, cursor } })),
    /** @param {string} id @param {{signal?: AbortSignal}} [options] */
    getMedia: async (id, { signal } = {}) => jsonOf(await request("GET", media(id), { signal })),
    /** @param {string} id */
    deleteMedia: async (id) => {
      await request("DELETE", media(id));
    },
    /** @param {string} id */
    regenerate: async (id) => jsonOf(await request("POST", `${media(id)}/depth/regenerate`)),
    /**
     * The photo (JPEG) or the 8-bit depth map (PNG) of a version, as a Blob. The image Accept type
     * makes the API answer the bytes inline (or redirect to S3 for a large file, which fetch follows).
     * @param {string} id
     * @param {"photo"|"depth"} kind
     * @param {string} version
     * @param {{signal?: AbortSignal}} [options]
     * @returns {Promise<Blob>}
     */
    getFile: async (id, kind, version, { signal } = {}) => {
      const response = await request("GET", `${media(id)}/${kind}`, {
        query: kind === "depth" ? { version, format: "png8" } : { version },
        accept: kind === "depth" ? "image/png" : "image/jpeg",
        signal,
        // The files carry ETags and a day's private caching: reopening a photo costs a revalidation.
        cache: "default",
      });
      if (response.status === 202) {
        let body = {};
        try {
          body = await response.json();
        } catch {
          // A 202 without its JSON still means: not yet.
        }
        const retryAfter = body.retryAfter ?? response.headers.get("Retry-After");
        throw new NotReadyError({ message: body.message, retryAfter });
      }
      return response.blob();
    },
    /** @param {string} id @param {string} version */
    getUrls: async (id, version) => jsonOf(await request("GET", `${media(id)}/urls`, { query: { version } })),
    /** @param {{filename: string, contentType: string, size: number}} file */
    createUpload: async (file) => jsonOf(await request("POST", "media/uploads", { json: file })),
    /** @param {{cursor?: string | null, size?: number}} [page] a cursor keeps its own size */
    listLibrary: async ({ cursor, size = 50 } = {}) =>
      jsonOf(await request("GET", "immich/assets", { query: cursor ? { cursor } : { size } })),
    /** @param {string} assetId */
    importAsset: async (assetId) =>
      jsonOf(await request("POST", `immich/import/${encodeURIComponent(assetId)}`)),
  };
}

/** @typedef {ReturnType<typeof createApi>} Api */

/**
 * Waits `ms`, or rejects with an AbortError as soon as the signal aborts.
 * @param {number} ms
 * @param {AbortSignal} [signal]
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new DOMException("Aborted", "AbortError"));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(undefined);
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(new DOMException("Aborted", "AbortError"));
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A file that may still be being made: asks again after each 202's retryAfter, up to `maxWaitS`.
 * @param {() => Promise<Blob>} get
 * @param {{signal?: AbortSignal, maxWaitS?: number, onWait?: (error: NotReadyError) => void,
 *   wait?: (ms: number, signal?: AbortSignal) => Promise<unknown>}} [options]
 */
export async function whenReady(get, { signal, maxWaitS = 600, onWait, wait = sleep } = {}) {
  let waited = 0;
  for (;;) {
    try {
      return await get();
    } catch (error) {
      if (!(error instanceof NotReadyError) || waited >= maxWaitS) throw error;
      onWait?.(error);
      await wait(error.retryAfter * 1000, signal);
      waited += error.retryAfter;
    }
  }
}
