import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contentTypeOf } from "../src/upload.js";

describe("the content type sent for an upload", () => {
  it("is the browser's when it knows one", () => {
    assert.equal(contentTypeOf({ name: "a.jpg", type: "image/jpeg" }), "image/jpeg");
  });

  it("comes from the extension where the browser left it empty (HEIC, JPEG XL)", () => {
    assert.equal(contentTypeOf({ name: "IMG_0042.HEIC", type: "" }), "image/heic");
    assert.equal(contentTypeOf({ name: "photo.jxl", type: "" }), "image/jxl");
    assert.equal(contentTypeOf({ name: "x.JPEG", type: "" }), "image/jpeg");
  });

  it("is a generic type for an unknown file, which the API then refuses with its own message", () => {
    assert.equal(contentTypeOf({ name: "notes", type: "" }), "application/octet-stream");
  });
});
