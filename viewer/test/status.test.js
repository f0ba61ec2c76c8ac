import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canImport, canRegenerate, importLabel, importStatus, isSettled, statusLabel } from "../src/status.js";

describe("status labels", () => {
  it("name every processing status in words", () => {
    assert.equal(statusLabel("pending"), "Waiting for the photo");
    assert.equal(statusLabel("queued"), "Queued for depth");
    assert.equal(statusLabel("processing"), "Making depth maps…");
    assert.equal(statusLabel("completed"), "Ready");
    assert.equal(statusLabel("failed"), "Failed");
    assert.equal(statusLabel("deleting"), "Deleting…");
    assert.equal(statusLabel("deleted"), "Deleted");
  });

  it("show a status this page does not know as it is, rather than hiding it", () => {
    assert.equal(statusLabel("archived"), "Unknown (archived)");
    assert.equal(statusLabel(null), "Unknown");
  });

  it("do not treat inherited object keys as statuses", () => {
    assert.equal(statusLabel("toString"), "Unknown (toString)");
  });
});

describe("settled statuses", () => {
  it("are the ones that no longer change by themselves", () => {
    for (const s of ["completed", "failed", "deleted"]) assert.equal(isSettled(s), true, s);
    for (const s of ["pending", "queued", "processing", "deleting"]) assert.equal(isSettled(s), false, s);
  });

  it("let regeneration only when completed or failed (409 otherwise)", () => {
    assert.equal(canRegenerate("completed"), true);
    assert.equal(canRegenerate("failed"), true);
    assert.equal(canRegenerate("processing"), false);
    assert.equal(canRegenerate("pending"), false);
  });
});

describe("the import status of an Immich asset", () => {
  it("is not-imported until imported, then the item's status", () => {
    assert.equal(importStatus(null), "not-imported");
    assert.equal(importStatus("queued"), "queued");
  });

  it("allows importing a never imported or deleted asset only", () => {
    assert.equal(canImport(null), true);
    assert.equal(canImport("deleted"), true);
    assert.equal(canImport("completed"), false);
    assert.equal(canImport("failed"), false);
  });

  it("reads as words", () => {
    assert.equal(importLabel(null), "Not imported");
    assert.equal(importLabel("completed"), "Imported: Ready");
    assert.equal(importLabel("deleted"), "Deleted here");
  });
});
