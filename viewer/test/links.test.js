import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { askAgainAfter, downloadEntries, downloadName } from "../src/links.js";

const made = {
  version: "preview",
  expiresIn: 300,
  photo: "https://s3/photo",
  depth: { png16: "https://s3/16", png8: "https://s3/8" },
  stereo: { sbs: "https://s3/sbs", "half-sbs": "https://s3/hsbs", tb: "https://s3/tb", anaglyph: "https://s3/ana" },
  pending: [],
  retryAfter: null,
};

describe("the downloads panel", () => {
  it("lists the photo, both depth maps and the four stereo images, in that order", () => {
    const entries = downloadEntries(made, "IMG_0042.HEIC");
    assert.deepEqual(entries.map((e) => e.kind), ["photo", "png16", "png8", "sbs", "half-sbs", "tb", "anaglyph"]);
    assert.ok(entries.every((e) => e.url && !e.pending));
    assert.equal(entries[3].url, "https://s3/sbs");
  });

  it("names the files after the photo, the version and the kind", () => {
    const entries = downloadEntries(made, "IMG_0042.HEIC");
    assert.equal(entries[0].filename, "IMG_0042.preview.photo.jpg");
    assert.equal(entries[1].filename, "IMG_0042.preview.png16.png");
  });

  it("keeps file names free of path characters", () => {
    assert.equal(downloadName('a/b:c".jpg', "thumbnail", { kind: "png8", ext: "png" }), "a_b_c_.thumbnail.png8.png");
    assert.equal(downloadName("", "thumbnail", { kind: "photo", ext: "jpg" }), "photo.thumbnail.photo.jpg");
  });

  it("says a stereo image is being made while it is pending", () => {
    const urls = { ...made, stereo: { ...made.stereo, sbs: null }, pending: ["stereo-sbs"], retryAfter: 30 };
    const sbs = downloadEntries(urls, "a.jpg").find((e) => e.kind === "sbs");
    assert.deepEqual([sbs.url, sbs.pending], [null, true]);
    assert.equal(askAgainAfter(urls), 30);
  });

  it("says everything made from the map is being made while the map itself is", () => {
    const urls = { ...made, depth: null, stereo: null, pending: ["preview"], retryAfter: 30 };
    const entries = downloadEntries(urls, "a.jpg");
    assert.equal(entries[0].pending, false, "the photo needs no map");
    assert.ok(entries.slice(1).every((e) => e.pending && e.url === null));
  });

  it("marks a file neither made nor pending as unavailable", () => {
    const entries = downloadEntries({ ...made, depth: null, stereo: null }, "a.jpg");
    assert.ok(entries.slice(1).every((e) => !e.pending && e.url === null));
    assert.equal(askAgainAfter({ ...made, depth: null, stereo: null }), null);
  });

  it("asks again after retryAfter, 30 s when it says none", () => {
    assert.equal(askAgainAfter({ ...made, pending: ["photo"], retryAfter: null }), 30);
    assert.equal(askAgainAfter({ ...made, pending: ["photo"], retryAfter: 5 }), 5);
  });
});
