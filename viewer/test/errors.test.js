import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiError, NetworkError, NotReadyError, clampRetryAfter, describeError, isKeyRefused } from "../src/errors.js";

const apiBase = "https://x.execute-api.eu-west-1.amazonaws.com/v1/";

describe("API errors as readable messages", () => {
  it("say plainly that a refused key was refused, whatever API Gateway's body says", () => {
    const error = new ApiError({ status: 403, message: "Forbidden" });
    assert.equal(describeError(error, { apiBase }), "That API key was refused. Check it and enter it again.");
    assert.equal(isKeyRefused(error), true);
  });

  it("name the API that cannot be reached", () => {
    const error = new NetworkError(apiBase, new TypeError("Failed to fetch"));
    assert.match(describeError(error, { apiBase }), /^Cannot reach the API at https:\/\/x\.execute-api\.eu-west-1\.amazonaws\.com\/v1\/\./);
    assert.equal(isKeyRefused(error), false);
  });

  it("pass on the API's own message, as a sentence", () => {
    const busy = new ApiError({ status: 409, message: "media item is processing; regenerate it once it is completed or failed" });
    assert.equal(describeError(busy), "Media item is processing; regenerate it once it is completed or failed.");
  });

  it("say what was being done", () => {
    const tooBig = new ApiError({ status: 413, message: "file too large: at most 209715200 bytes" });
    assert.equal(describeError(tooBig, { action: "Uploading a.jpg" }), "Uploading a.jpg failed: File too large: at most 209715200 bytes.");
  });

  it("explain a status whose body had no message", () => {
    assert.equal(describeError(new ApiError({ status: 404 })), "Not found; it may have been deleted.");
    assert.equal(describeError(new ApiError({ status: 415 })), "This file type is not supported.");
    assert.equal(describeError(new ApiError({ status: 502 })), "The API failed (HTTP 502); try again later.");
    assert.equal(describeError(new ApiError({ status: 418 })), "The API answered HTTP 418.");
  });

  it("give Immich's upstream errors their message (the import tab shows them)", () => {
    const error = new ApiError({ status: 504, message: "Immich did not answer in time" });
    assert.equal(describeError(error), "Immich did not answer in time.");
  });

  it("slow the person down on throttling", () => {
    assert.match(describeError(new ApiError({ status: 429, message: "Too Many Requests" })), /busy/);
  });

  it("keep a long message short", () => {
    const text = describeError(new ApiError({ status: 400, message: "x".repeat(1000) }));
    assert.ok(text.length <= 302, `${text.length} characters`);
  });

  it("say nothing of an abort the page asked for", () => {
    const abort = new Error("aborted");
    abort.name = "AbortError";
    assert.equal(describeError(abort), null);
  });

  it("say when a file is still being made and when it is asked again", () => {
    assert.equal(describeError(new NotReadyError({ message: "the map is being made again", retryAfter: 30 })), "The map is being made again. Trying again in 30 s.");
  });

  it("fall back to the error's own message, or a general sentence", () => {
    assert.equal(describeError(new Error("the image could not be decoded")), "The image could not be decoded.");
    assert.equal(describeError("??"), "Something went wrong.");
  });
});

describe("retry-after", () => {
  it("is kept between 1 s and a minute, 5 s when missing", () => {
    assert.equal(clampRetryAfter(30), 30);
    assert.equal(clampRetryAfter("7"), 7);
    assert.equal(clampRetryAfter(0.2), 1);
    assert.equal(clampRetryAfter(3600), 60);
    assert.equal(clampRetryAfter(undefined), 5);
    assert.equal(clampRetryAfter("soon"), 5);
  });
});
