// Which depth versions an item has, and the order the 3D view loads them in: the small thumbnail
// first for a quick first frame, then the larger one a screen or headset deserves.

/** @typedef {"thumbnail"|"preview"|"full_resolution"} Version */

/** @type {Version[]} small to large, as the API makes and lists them */
export const VERSIONS = ["thumbnail", "preview", "full_resolution"];

/** @type {Record<Version, string>} */
const LABELS = {
  thumbnail: "Thumbnail",
  preview: "Preview",
  full_resolution: "Full resolution",
};

/** @param {string} version */
export function versionLabel(version) {
  return LABELS[/** @type {Version} */ (version)] ?? version;
}

/**
 * @typedef {{
 *   thumbnail_depth_map_id?: string | null,
 *   preview_depth_map_id?: string | null,
 *   full_res_depth_map_id?: string | null,
 * }} DepthIds
 */

/**
 * The versions whose depth map is made, small to large. An evicted map still counts: asking for it
 * makes it again (answered 202 meanwhile).
 * @param {DepthIds} item
 * @returns {Version[]}
 */
export function availableVersions(item) {
  /** @type {Version[]} */
  const out = [];
  if (item.thumbnail_depth_map_id) out.push("thumbnail");
  if (item.preview_depth_map_id) out.push("preview");
  if (item.full_res_depth_map_id) out.push("full_resolution");
  return out;
}

/**
 * The larger version to swap in after the thumbnail: the preview (about what a headset shows) where
 * there is one, else full resolution.
 * @param {DepthIds} item
 * @returns {Version | null}
 */
export function largerVersion(item) {
  if (item.preview_depth_map_id) return "preview";
  if (item.full_res_depth_map_id) return "full_resolution";
  return null;
}

/**
 * The versions to load, in order, when the item is opened.
 * @param {DepthIds} item
 * @returns {Version[]} empty when no depth map is made yet
 */
export function loadPlan(item) {
  const larger = largerVersion(item);
  /** @type {Version[]} */
  const plan = [];
  if (item.thumbnail_depth_map_id) plan.push("thumbnail");
  if (larger) plan.push(larger);
  return plan;
}
