// The Immich library tab: the library's photos, a page at a time, each with an Import button. When
// Immich is not configured or unreachable the API says so (5xx) and the tab shows that message;
// the rest of the page is unaffected.
import { createPagedList } from "./paged-list.js";
import { createPager } from "./paging.js";
import { canImport, importLabel, importStatus } from "./status.js";
import { describeError, isKeyRefused } from "./errors.js";

/**
 * @typedef {import("./api.js").Api} Api
 * @typedef {{assetId: string, filename: string, takenAt: string | null, width: number | null,
 *   height: number | null, mediaItemId: string | null, processingStatus: string | null,
 *   depthVersions: string[]}} LibraryAsset
 * @typedef {{
 *   api: Api,
 *   apiBase: string,
 *   report: (error: unknown, action?: string) => void,
 *   onImported: (mediaItemId: string, asset: LibraryAsset) => void,
 * }} LibraryContext
 */

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/**
 * @param {{list: HTMLUListElement, sentinel: HTMLElement, loadMore: HTMLButtonElement,
 *   error: HTMLElement, empty: HTMLElement}} elements
 * @param {LibraryContext} context
 */
export function createLibrary({ list, sentinel, loadMore, error: errorLine, empty }, context) {
  const { api } = context;
  /** @type {Map<string, {asset: LibraryAsset, li: HTMLLIElement}>} */
  const rows = new Map();
  const pager = createPager(
    async (cursor) => {
      const page = await api.listLibrary({ cursor, size: 50 });
      return { items: page.assets, nextCursor: page.nextCursor };
    },
    (/** @type {LibraryAsset} */ asset) => asset.assetId,
  );
  const paging = createPagedList(
    { pager, list, sentinel, loadMore, empty, errorLine },
    {
      addPage: (assets) => {
        for (const asset of assets) add(asset);
      },
      pageFailed: (error) => {
        if (isKeyRefused(error)) {
          context.report(error);
          return null;
        }
        // Immich missing or down is this tab's business only: no page-wide notice, and the
        // automatic paging stops until the person asks again.
        return describeError(error, { apiBase: context.apiBase }) || "";
      },
    },
  );

  /** @param {LibraryAsset} asset */
  function add(asset) {
    const li = document.createElement("li");
    li.dataset.assetId = asset.assetId;
    const name = document.createElement("span");
    name.className = "filename";
    name.id = `asset-${asset.assetId}`;
    name.textContent = asset.filename;
    const meta = document.createElement("span");
    meta.className = "meta";
    if (asset.takenAt) {
      const time = document.createElement("time");
      time.className = "taken";
      time.dateTime = asset.takenAt;
      const date = new Date(asset.takenAt);
      time.textContent = Number.isNaN(date.getTime()) ? asset.takenAt : dateFormat.format(date);
      meta.append(time);
    }
    const state = document.createElement("span");
    state.className = "import-state";
    meta.append(state);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "import";
    button.setAttribute("aria-describedby", name.id);
    button.addEventListener("click", () => void importAsset(asset.assetId, button));
    li.append(name, meta, button);
    list.append(li);
    rows.set(asset.assetId, { asset, li });
    render(asset.assetId);
  }

  /** @param {string} assetId */
  function render(assetId) {
    const row = rows.get(assetId);
    if (!row) return;
    const { asset, li } = row;
    li.dataset.importStatus = importStatus(asset.processingStatus);
    const state = /** @type {HTMLElement} */ (li.querySelector(".import-state"));
    state.textContent = ` · ${importLabel(asset.processingStatus)}`;
    const button = /** @type {HTMLButtonElement} */ (li.querySelector("button.import"));
    const importable = canImport(asset.processingStatus);
    button.disabled = !importable;
    button.textContent = importable ? (asset.processingStatus === "deleted" ? "Import again" : "Import") : "Imported";
  }

  /** @param {string} assetId @param {HTMLButtonElement} button */
  async function importAsset(assetId, button) {
    const row = rows.get(assetId);
    if (!row) return;
    button.disabled = true;
    button.textContent = "Importing…";
    try {
      const answer = await api.importAsset(assetId);
      row.asset = { ...row.asset, mediaItemId: answer.mediaItemId, processingStatus: answer.status || "queued" };
      render(assetId);
      context.onImported(answer.mediaItemId, row.asset);
    } catch (error) {
      render(assetId);
      context.report(error, `Importing ${row.asset.filename}`);
    }
  }

  return {
    /** Loads the first page: called when the tab is first shown, so Immich is asked only then. */
    start: paging.start,
    reset() {
      rows.clear();
      list.replaceChildren();
      paging.reset();
    },
    /**
     * Keeps an asset's status in step with its media item, as the gallery learns of it.
     * @param {{media_item_id: string, immich_asset_id?: string | null, processing_status: string}} item
     */
    itemChanged(item) {
      if (!item.immich_asset_id) return;
      const row = rows.get(item.immich_asset_id);
      if (!row) return;
      row.asset = { ...row.asset, mediaItemId: item.media_item_id, processingStatus: item.processing_status };
      render(item.immich_asset_id);
    },
    /** @param {string} mediaItemId */
    itemRemoved(mediaItemId) {
      for (const [assetId, row] of rows) {
        if (row.asset.mediaItemId !== mediaItemId) continue;
        row.asset = { ...row.asset, processingStatus: "deleted", mediaItemId: null };
        render(assetId);
      }
    },
  };
}

/** @typedef {ReturnType<typeof createLibrary>} Library */
