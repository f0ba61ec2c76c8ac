import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VERSIONS, availableVersions, largerVersion, loadPlan, versionLabel } from "../src/versions.js";

const id = "0b7e2a50-0000-4000-8000-000000000001";
const item = (made) => ({
  thumbnail_depth_map_id: made.includes("thumbnail") ? `${id}:thumbnail` : null,
  preview_depth_map_id: made.includes("preview") ? `${id}:preview` : null,
  full_res_depth_map_id: made.includes("full_resolution") ? `${id}:full_resolution` : null,
});

describe("versions of an item", () => {
  it("are listed small to large", () => {
    assert.deepEqual(VERSIONS, ["thumbnail", "preview", "full_resolution"]);
    assert.deepEqual(availableVersions(item(["full_resolution", "thumbnail", "preview"])), VERSIONS);
  });

  it("are the ones whose depth map id is set", () => {
    assert.deepEqual(availableVersions(item(["thumbnail"])), ["thumbnail"]);
    assert.deepEqual(availableVersions(item([])), []);
  });

  it("have labels", () => {
    assert.equal(versionLabel("full_resolution"), "Full resolution");
    assert.equal(versionLabel("other"), "other");
  });
});

describe("progressive loading", () => {
  it("shows the thumbnail first, then the preview", () => {
    assert.deepEqual(loadPlan(item(["thumbnail", "preview", "full_resolution"])), ["thumbnail", "preview"]);
  });

  it("swaps in full resolution where there is no preview", () => {
    assert.deepEqual(loadPlan(item(["thumbnail", "full_resolution"])), ["thumbnail", "full_resolution"]);
    assert.equal(largerVersion(item(["thumbnail", "full_resolution"])), "full_resolution");
  });

  it("takes the preview of a small photo, though its map is the full-resolution one", () => {
    const small = { ...item(["thumbnail", "full_resolution"]), preview_depth_map_id: `${id}:full_resolution` };
    assert.deepEqual(loadPlan(small), ["thumbnail", "preview"]);
  });

  it("shows only the thumbnail while nothing larger is made", () => {
    assert.deepEqual(loadPlan(item(["thumbnail"])), ["thumbnail"]);
    assert.equal(largerVersion(item(["thumbnail"])), null);
  });

  it("starts with the larger version when the thumbnail has no map", () => {
    assert.deepEqual(loadPlan(item(["preview"])), ["preview"]);
  });

  it("has nothing to load before any map is made", () => {
    assert.deepEqual(loadPlan(item([])), []);
  });
});
