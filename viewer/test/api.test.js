import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { apiBaseFrom, createApi, whenReady } from "../src/api.js";
import { ApiError, NetworkError, NotReadyError } from "../src/errors.js";

/** A fetch that records requests and answers from `answer(url, init)`. */
function fakeFetch(answer) {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, init });
    return answer(url, init);
  };
  return { requests, fetch };
}

const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("the API's base", () => {
  it("is one level above the viewer, keeping a stage prefix", () => {
    assert.equal(apiBaseFrom("https://x.execute-api.eu-west-1.amazonaws.com/v1/viewer/").href, "https://x.execute-api.eu-west-1.amazonaws.com/v1/");
    assert.equal(apiBaseFrom("http://127.0.0.1:3000/viewer/index.html").href, "http://127.0.0.1:3000/");
  });
});

describe("API calls", () => {
  const base = new URL("https://api.example/v1/");

  it("send the key as X-Api-Key and ask for JSON", async () => {
    const f = fakeFetch(() => json(200, { status: "ok", version: "0.1.0" }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    assert.deepEqual(await api.health(), { status: "ok", version: "0.1.0" });
    assert.equal(f.requests[0].url, "https://api.example/v1/api/health");
    assert.equal(f.requests[0].init.headers["X-Api-Key"], "k");
    assert.equal(f.requests[0].init.headers.Accept, "application/json");
  });

  it("page the media list with limit and cursor", async () => {
    const f = fakeFetch(() => json(200, { items: [], nextCursor: null }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    await api.listMedia({});
    await api.listMedia({ cursor: "abc=", limit: 10 });
    assert.equal(f.requests[0].url, "https://api.example/v1/api/media?limit=25");
    assert.equal(f.requests[1].url, "https://api.example/v1/api/media?limit=10&cursor=abc%3D");
  });

  it("page the Immich library with a size first, then the cursor alone (it keeps its size)", async () => {
    const f = fakeFetch(() => json(200, { assets: [], nextCursor: null }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    await api.listLibrary({});
    await api.listLibrary({ cursor: "c1" });
    assert.equal(f.requests[0].url, "https://api.example/v1/api/immich/assets?size=50");
    assert.equal(f.requests[1].url, "https://api.example/v1/api/immich/assets?cursor=c1");
  });

  it("turn an error answer into an ApiError carrying the API's message", async () => {
    const f = fakeFetch(() => json(409, { success: false, error: "status_conflict", message: "item is processing" }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    const error = await api.regenerate("id-1").catch((e) => e);
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 409);
    assert.equal(error.apiMessage, "item is processing");
    assert.equal(error.code, "status_conflict");
    assert.equal(f.requests[0].init.method, "POST");
    assert.equal(f.requests[0].url, "https://api.example/v1/api/media/id-1/depth/regenerate");
  });

  it("read API Gateway's refusal", async () => {
    const f = fakeFetch(() => json(403, { message: "Forbidden" }));
    const api = createApi({ base, getKey: () => "wrong", fetch: f.fetch });
    const error = await api.health().catch((e) => e);
    assert.equal(error.status, 403);
  });

  it("keep an error whose body is not JSON", async () => {
    const f = fakeFetch(() => new Response("<html>Bad gateway</html>", { status: 502 }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    const error = await api.health().catch((e) => e);
    assert.deepEqual([error.status, error.apiMessage], [502, ""]);
  });

  it("turn a failed fetch into a NetworkError naming the API", async () => {
    const api = createApi({ base, getKey: () => "k", fetch: async () => { throw new TypeError("Failed to fetch"); } });
    const error = await api.health().catch((e) => e);
    assert.ok(error instanceof NetworkError);
    assert.equal(error.url, "https://api.example/v1/");
  });

  it("let an abort through as it is", async () => {
    const api = createApi({ base, getKey: () => "k", fetch: async () => { throw new DOMException("x", "AbortError"); } });
    const error = await api.health().catch((e) => e);
    assert.equal(error.name, "AbortError");
  });

  it("send an upload request as JSON", async () => {
    const f = fakeFetch(() => json(201, { mediaItemId: "m" }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    await api.createUpload({ filename: "a.jpg", contentType: "image/jpeg", size: 3 });
    assert.equal(f.requests[0].init.headers["Content-Type"], "application/json");
    assert.deepEqual(JSON.parse(f.requests[0].init.body), { filename: "a.jpg", contentType: "image/jpeg", size: 3 });
  });
});

describe("files", () => {
  const base = new URL("http://127.0.0.1:3000/");

  it("ask for the photo as JPEG and the depth map as 8-bit PNG", async () => {
    const f = fakeFetch(() => new Response(new Uint8Array([1, 2]), { status: 200, headers: { "Content-Type": "image/png" } }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    await api.getFile("m1", "photo", "thumbnail");
    await api.getFile("m1", "depth", "preview");
    assert.equal(f.requests[0].url, "http://127.0.0.1:3000/api/media/m1/photo?version=thumbnail");
    assert.equal(f.requests[0].init.headers.Accept, "image/jpeg");
    assert.equal(f.requests[1].url, "http://127.0.0.1:3000/api/media/m1/depth?version=preview&format=png8");
    assert.equal(f.requests[1].init.headers.Accept, "image/png");
  });

  it("treat a 202 as not ready yet, with its retryAfter", async () => {
    const f = fakeFetch(() => json(202, { message: "being made", retryAfter: 30 }));
    const api = createApi({ base, getKey: () => "k", fetch: f.fetch });
    const error = await api.getFile("m1", "depth", "preview").catch((e) => e);
    assert.ok(error instanceof NotReadyError);
    assert.equal(error.retryAfter, 30);
  });

  it("are asked again after each retryAfter until they come", async () => {
    const waits = [];
    let n = 0;
    const blob = await whenReady(async () => {
      n += 1;
      if (n < 3) throw new NotReadyError({ retryAfter: 2 });
      return "file";
    }, { wait: async (ms) => waits.push(ms) });
    assert.equal(blob, "file");
    assert.deepEqual(waits, [2000, 2000]);
  });

  it("give up waiting after the longest wait", async () => {
    const error = await whenReady(async () => { throw new NotReadyError({ retryAfter: 30 }); }, { maxWaitS: 60, wait: async () => {} }).catch((e) => e);
    assert.ok(error instanceof NotReadyError);
  });

  it("do not retry other errors", async () => {
    let n = 0;
    const error = await whenReady(async () => { n += 1; throw new ApiError({ status: 404 }); }, { wait: async () => {} }).catch((e) => e);
    assert.equal(n, 1);
    assert.equal(error.status, 404);
  });
});
