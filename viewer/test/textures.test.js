import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fitTextureSize, gridSegments } from "../src/textures.js";

describe("texture size fitting to MAX_TEXTURE_SIZE", () => {
  it("keeps an image that fits", () => {
    assert.deepEqual(fitTextureSize(4096, 3072, 4096), { width: 4096, height: 3072, scaled: false });
  });

  it("never enlarges", () => {
    assert.deepEqual(fitTextureSize(300, 200, 16384), { width: 300, height: 200, scaled: false });
  });

  it("scales a wide image so its width is the limit, keeping the aspect", () => {
    assert.deepEqual(fitTextureSize(8000, 6000, 4096), { width: 4096, height: 3072, scaled: true });
  });

  it("scales a tall image so its height is the limit", () => {
    assert.deepEqual(fitTextureSize(3000, 9000, 4096), { width: 1365, height: 4096, scaled: true });
  });

  it("never gives a side of 0 or above the limit", () => {
    const { width, height } = fitTextureSize(100000, 3, 2048);
    assert.equal(width, 2048);
    assert.equal(height, 1);
  });

  it("refuses sizes that are no sizes", () => {
    assert.throws(() => fitTextureSize(0, 10, 4096), RangeError);
    assert.throws(() => fitTextureSize(10, 10, 0), RangeError);
    assert.throws(() => fitTextureSize(Number.NaN, 10, 4096), RangeError);
  });
});

describe("mesh segments", () => {
  it("puts 256 along the long side and the short side in proportion", () => {
    assert.deepEqual(gridSegments(4000, 3000), { x: 256, y: 192 });
    assert.deepEqual(gridSegments(3000, 4000), { x: 192, y: 256 });
  });

  it("uses no more segments than the depth map has pixels", () => {
    assert.deepEqual(gridSegments(64, 32), { x: 64, y: 32 });
  });

  it("keeps at least one segment on a very thin image", () => {
    assert.deepEqual(gridSegments(5000, 2), { x: 256, y: 1 });
  });
});
