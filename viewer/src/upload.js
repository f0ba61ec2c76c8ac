// Uploads: ask the API for a ticket, then send the file straight to S3 with the presigned POST,
// through XMLHttpRequest because fetch() reports no upload progress.
import { describeError, isKeyRefused } from "./errors.js";
import { createQueue } from "./queue.js";

/**
 * @typedef {import("./api.js").Api} Api
 * @typedef {{
 *   api: Api,
 *   apiBase: string,
 *   report: (error: unknown, action?: string) => void,
 *   onUploaded: (mediaItemId: string, file: File) => void,
 * }} UploadContext
 */

/** Browsers leave `type` empty for files they do not know (HEIC on most desktops, JPEG XL). */
const TYPES_BY_EXTENSION = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  jpe: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  avif: "image/avif",
  jxl: "image/jxl",
  gif: "image/gif",
  tif: "image/tiff",
  tiff: "image/tiff",
  bmp: "image/bmp",
};

/**
 * @param {{name: string, type: string}} file
 */
export function contentTypeOf(file) {
  if (file.type) return file.type;
  const ext = /\.([^.]+)$/.exec(file.name)?.[1]?.toLowerCase() || "";
  return /** @type {Record<string, string>} */ (TYPES_BY_EXTENSION)[ext] || "application/octet-stream";
}

/** S3 refuses with an XML body; its <Message> is the readable part. @param {string} text */
function s3Message(text) {
  return /<Message>([^<]*)<\/Message>/.exec(text)?.[1] || "";
}

/**
 * @param {{dropZone: HTMLElement, input: HTMLInputElement, list: HTMLUListElement}} elements
 * @param {UploadContext} context
 */
export function createUploads({ dropZone, input, list }, context) {
  // Two at a time: enough to keep the line busy without every file crawling at once.
  const queue = createQueue(2);

  /** @param {Iterable<File>} files */
  function uploadAll(files) {
    for (const file of files) {
      const row = addRow(file);
      queue.run(() => uploadOne(file, row)).catch(() => {
        // uploadOne reports its own failures; nothing else can reach here.
      });
    }
  }

  /** @param {File} file */
  function addRow(file) {
    const li = document.createElement("li");
    li.className = "upload";
    li.dataset.uploadState = "waiting";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.className = "upload-progress";
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload of ${file.name}`);
    const outcome = document.createElement("span");
    outcome.className = "upload-outcome";
    outcome.setAttribute("role", "status");
    outcome.textContent = "Waiting…";
    li.append(name, progress, outcome);
    list.prepend(li);
    return { li, progress, outcome };
  }

  /**
   * @param {File} file
   * @param {ReturnType<typeof addRow>} row
   */
  async function uploadOne(file, { li, progress, outcome }) {
    const set = (/** @type {string} */ state, /** @type {string} */ text) => {
      li.dataset.uploadState = state;
      outcome.textContent = text;
    };
    set("requesting", "Starting…");
    let ticket;
    try {
      ticket = await context.api.createUpload({ filename: file.name, contentType: contentTypeOf(file), size: file.size });
    } catch (error) {
      set("failed", describeError(error, { apiBase: context.apiBase }) || "Failed.");
      if (isKeyRefused(error)) context.report(error);
      return;
    }
    set("uploading", "Uploading…");
    try {
      await post(ticket.upload, file, (fraction) => {
        progress.value = Math.round(fraction * 100);
      });
    } catch (error) {
      set("failed", error instanceof Error ? error.message : "The upload failed.");
      return;
    }
    progress.value = 100;
    set("done", "Uploaded; depth maps are being made.");
    li.dataset.mediaItemId = ticket.mediaItemId;
    context.onUploaded(ticket.mediaItemId, file);
  }

  /**
   * The presigned POST: every field of the ticket, the file last (S3 ignores fields after it).
   * @param {{url: string, fields: Record<string, string>}} upload
   * @param {File} file
   * @param {(fraction: number) => void} onProgress
   * @returns {Promise<void>}
   */
  function post(upload, file, onProgress) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(upload.fields || {})) form.append(name, value);
      form.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", upload.url);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve();
          return;
        }
        const said = s3Message(xhr.responseText || "");
        reject(new Error(`Storage refused the file (HTTP ${xhr.status})${said ? `: ${said}` : "."}`));
      };
      xhr.onerror = () => reject(new Error("The upload could not reach the storage. Check the connection and try again."));
      xhr.onabort = () => reject(new Error("The upload was stopped."));
      xhr.ontimeout = () => reject(new Error("The upload timed out."));
      xhr.send(form);
    });
  }

  input.addEventListener("change", () => {
    if (input.files?.length) uploadAll([...input.files]);
    // Choosing the same file again must fire change again.
    input.value = "";
  });

  let depth = 0;
  dropZone.addEventListener("dragenter", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    depth += 1;
    dropZone.classList.add("dragging");
  });
  dropZone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  dropZone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) dropZone.classList.remove("dragging");
  });
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    dropZone.classList.remove("dragging");
    const files = [...(event.dataTransfer?.files || [])];
    const images = files.filter((f) => contentTypeOf(f).startsWith("image/"));
    if (images.length) uploadAll(images);
    for (const skipped of files.filter((f) => !images.includes(f))) {
      const row = addRow(skipped);
      row.li.dataset.uploadState = "failed";
      row.outcome.textContent = "Not an image: skipped.";
    }
  });

  return { uploadAll };
}
