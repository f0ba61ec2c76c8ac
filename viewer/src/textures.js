// Sizes for the GPU: a texture never larger than the device allows, and a mesh fine enough to show
// the depth without spending vertices the depth map cannot fill.

/**
 * The largest size with the same aspect that fits `max` on both sides; never enlarges.
 * @param {number} width
 * @param {number} height
 * @param {number} max the renderer's maxTextureSize
 * @returns {{width: number, height: number, scaled: boolean}}
 */
export function fitTextureSize(width, height, max) {
  if (!(width > 0 && height > 0)) throw new RangeError(`not an image size: ${width}x${height}`);
  if (!(max >= 1)) throw new RangeError(`not a texture limit: ${max}`);
  if (width <= max && height <= max) return { width, height, scaled: false };
  const scale = max / Math.max(width, height);
  return {
    width: Math.max(1, Math.min(max, Math.round(width * scale))),
    height: Math.max(1, Math.min(max, Math.round(height * scale))),
    scaled: true,
  };
}

/**
 * Grid segments for the displaced plane: `maxSegments` along the long side, the short side in
 * proportion, and never more segments than the depth map has pixels.
 * @param {number} width depth map width in pixels
 * @param {number} height depth map height in pixels
 * @param {number} [maxSegments]
 * @returns {{x: number, y: number}}
 */
export function gridSegments(width, height, maxSegments = 256) {
  if (!(width > 0 && height > 0)) throw new RangeError(`not an image size: ${width}x${height}`);
  const long = Math.max(width, height);
  const along = Math.max(1, Math.min(maxSegments, long));
  const across = Math.max(1, Math.round((along * Math.min(width, height)) / long));
  return width >= height ? { x: along, y: across } : { x: across, y: along };
}
