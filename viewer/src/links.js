// The downloads panel's content, from GET api/media/{id}/urls: one entry per file a person may want,
// with its presigned URL, or why there is none yet.

/**
 * @typedef {{kind: string, label: string, ext: string, group: "photo"|"depth"|"stereo"}} DownloadKind
 * @typedef {{photo: string | null, depth: Record<string, string | null> | null,
 *   stereo: Record<string, string | null> | null, pending: string[], retryAfter: number | null,
 *   version: string, expiresIn: number}} MediaUrls
 * @typedef {{kind: string, label: string, url: string | null, pending: boolean, filename: string}} DownloadEntry
 */

/** @type {DownloadKind[]} */
export const DOWNLOAD_KINDS = [
  { kind: "photo", label: "Photo (JPEG)", ext: "jpg", group: "photo" },
  { kind: "png16", label: "Depth map, 16-bit PNG", ext: "png", group: "depth" },
  { kind: "png8", label: "Depth map, 8-bit PNG", ext: "png", group: "depth" },
  { kind: "sbs", label: "Stereo, side by side", ext: "jpg", group: "stereo" },
  { kind: "half-sbs", label: "Stereo, half side by side", ext: "jpg", group: "stereo" },
  { kind: "tb", label: "Stereo, top and bottom", ext: "jpg", group: "stereo" },
  { kind: "anaglyph", label: "Red-cyan anaglyph", ext: "jpg", group: "stereo" },
];

/**
 * A download name: the photo's name without its extension, the version and the kind.
 * @param {string} filename
 * @param {string} version
 * @param {DownloadKind} kind
 */
export function downloadName(filename, version, kind) {
  const stem = (filename || "photo").replace(/\.[^./\\]+$/, "").replace(/[\\/:*?"<>|\u0000-\u001f]+/g, "_") || "photo";
  return `${stem}.${version}.${kind.kind}.${kind.ext}`;
}

/**
 * @param {MediaUrls} urls
 * @param {string} filename
 * @returns {DownloadEntry[]}
 */
export function downloadEntries(urls, filename) {
  const pending = new Set(urls.pending || []);
  // The version's own name pending means its map is being made again: nothing made from it exists.
  const mapPending = pending.has(urls.version);
  return DOWNLOAD_KINDS.map((kind) => {
    /** @type {string | null | undefined} */
    let url;
    let isPending;
    if (kind.group === "photo") {
      url = urls.photo;
      isPending = pending.has("photo");
    } else if (kind.group === "depth") {
      url = urls.depth?.[kind.kind];
      isPending = mapPending || pending.has(kind.kind);
    } else {
      url = urls.stereo?.[kind.kind];
      isPending = mapPending || pending.has(`stereo-${kind.kind}`);
    }
    return {
      kind: kind.kind,
      label: kind.label,
      url: url || null,
      pending: !url && isPending,
      filename: downloadName(filename, urls.version, kind),
    };
  });
}

/**
 * Whether to ask again, and after how many seconds: while something is still being made.
 * @param {MediaUrls} urls
 * @returns {number | null}
 */
export function askAgainAfter(urls) {
  if (!urls.pending?.length) return null;
  const n = Number(urls.retryAfter);
  return Number.isFinite(n) && n > 0 ? Math.min(60, Math.max(1, n)) : 30;
}
