// What each processing status means to a person, and which ones still change by themselves.

/** @typedef {"pending"|"queued"|"processing"|"completed"|"failed"|"deleting"|"deleted"} ProcessingStatus */

/** @type {Record<ProcessingStatus, string>} */
const LABELS = {
  pending: "Waiting for the photo",
  queued: "Queued for depth",
  processing: "Making depth maps…",
  completed: "Ready",
  failed: "Failed",
  deleting: "Deleting…",
  deleted: "Deleted",
};

/**
 * @param {string | null | undefined} status
 * @returns {string}
 */
export function statusLabel(status) {
  if (status && Object.hasOwn(LABELS, status)) return LABELS[/** @type {ProcessingStatus} */ (status)];
  return status ? `Unknown (${status})` : "Unknown";
}

/** Statuses that end by themselves only through the back end's work, so they are worth polling. */
const UNSETTLED = new Set(["pending", "queued", "processing", "deleting"]);

/** @param {string | null | undefined} status */
export function isSettled(status) {
  return !UNSETTLED.has(String(status));
}

/** @param {string | null | undefined} status a regenerate is refused (409) in any other */
export function canRegenerate(status) {
  return status === "completed" || status === "failed";
}

/**
 * The Immich library's import status of an asset, as the `data-import-status` attribute shows it.
 * @param {string | null | undefined} processingStatus
 */
export function importStatus(processingStatus) {
  return processingStatus || "not-imported";
}

/** @param {string | null | undefined} processingStatus deleted here: only an explicit import brings it back */
export function canImport(processingStatus) {
  return !processingStatus || processingStatus === "deleted";
}

/** @param {string | null | undefined} processingStatus */
export function importLabel(processingStatus) {
  if (!processingStatus) return "Not imported";
  if (processingStatus === "deleted") return "Deleted here";
  return `Imported: ${statusLabel(processingStatus)}`;
}
