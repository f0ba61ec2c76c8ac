// Decoding a photo or a depth map for the GPU, downscaled where it exceeds what the GPU takes.
import { fitTextureSize } from "./textures.js";

/**
 * @typedef {import("./scene.js").Decoded} Decoded
 */

/**
 * @param {Blob} blob
 * @param {{depth: boolean, maxSize: number}} options depth: keep the values exactly as stored
 *   (no colour management, no premultiplication), since they are distances, not colours
 * @returns {Promise<Decoded>}
 */
export async function decodeForTexture(blob, { depth, maxSize }) {
  /** @type {ImageBitmapOptions} */
  const options = depth ? { premultiplyAlpha: "none", colorSpaceConversion: "none" } : { premultiplyAlpha: "none" };
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, options);
  } catch (cause) {
    throw new Error(`The ${depth ? "depth map" : "photo"} could not be decoded by this browser.`, { cause });
  }
  const fit = fitTextureSize(bitmap.width, bitmap.height, maxSize);
  if (!fit.scaled) return { source: bitmap, width: bitmap.width, height: bitmap.height };

  try {
    const resized = await createImageBitmap(bitmap, {
      ...options,
      resizeWidth: fit.width,
      resizeHeight: fit.height,
      resizeQuality: "high",
    });
    if (resized.width === fit.width && resized.height === fit.height) {
      bitmap.close();
      return { source: resized, width: fit.width, height: fit.height };
    }
    resized.close();
  } catch {
    // Resizing options unsupported here: a canvas does the same.
  }
  const canvas = document.createElement("canvas");
  canvas.width = fit.width;
  canvas.height = fit.height;
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, fit.width, fit.height);
  bitmap.close();
  return { source: canvas, width: fit.width, height: fit.height };
}
