// The gallery: one card per media item, newest first, paged as the person scrolls; thumbnails load
// when a card comes into view; items still being made are polled through the page's one limiter.
import { createPagedList } from "./paged-list.js";
import { createPager } from "./paging.js";
import { createQueue } from "./queue.js";
import { canRegenerate, isSettled, statusLabel } from "./status.js";
import { loadPlan } from "./versions.js";
import { ApiError, NotReadyError } from "./errors.js";

/**
 * @typedef {import("./api.js").Api} Api
 * @typedef {{
 *   media_item_id: string, filename: string, processing_status: string, last_error?: string | null,
 *   thumbnail_path?: string | null, thumbnail_depth_map_id?: string | null,
 *   preview_depth_map_id?: string | null, full_res_depth_map_id?: string | null,
 *   immich_asset_id?: string | null, [field: string]: unknown,
 * }} MediaItem
 * @typedef {{
 *   item: MediaItem, li: HTMLLIElement, img: HTMLImageElement, thumb: HTMLElement,
 *   objectUrl: string | null, thumbState: "none" | "loading" | "loaded" | "waiting" | "failed",
 *   visible: boolean, retryTimer: ReturnType<typeof setTimeout> | null,
 * }} Card
 * @typedef {{
 *   api: Api,
 *   report: (error: unknown, action?: string) => void,
 *   say: (message: string, kind?: "error" | "info") => void,
 *   watch: (id: string, delayMs?: number) => void,
 *   unwatch: (id: string) => void,
 *   confirm: (message: string) => boolean,
 *   onOpen: (item: MediaItem, opener: HTMLElement) => void,
 *   onItem: (item: MediaItem) => void,
 *   onRemoved: (id: string) => void,
 * }} GalleryContext
 */

const PAGE_SIZE = 25;

/**
 * @param {{list: HTMLUListElement, sentinel: HTMLElement, loadMore: HTMLButtonElement, empty: HTMLElement}} elements
 * @param {GalleryContext} context
 */
export function createGallery({ list, sentinel, loadMore, empty }, context) {
  const { api } = context;
  /** @type {Map<string, Card>} */
  const cards = new Map();
  const thumbnails = createQueue(4);
  const pager = createPager(
    async (cursor) => {
      const page = await api.listMedia({ cursor, limit: PAGE_SIZE });
      return { items: page.items, nextCursor: page.nextCursor };
    },
    (/** @type {MediaItem} */ item) => item.media_item_id,
  );
  const paging = createPagedList(
    { pager, list, sentinel, loadMore, empty },
    {
      addPage: (items) => {
        for (const item of items) add(item, "end");
      },
      pageFailed: (error) => {
        context.report(error, "Loading the gallery");
        // The notice says what went wrong; automatic paging stops until the person asks again, so a
        // failing API is not asked again and again while the sentinel stays in view.
        return "";
      },
    },
  );

  const cardObserver = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        const card = cards.get(/** @type {HTMLElement} */ (entry.target).dataset.mediaItemId || "");
        if (!card) continue;
        card.visible = entry.isIntersecting;
        if (card.visible) loadThumbnail(card);
      }
    },
    { rootMargin: "200px" },
  );

  /**
   * @param {Card} card
   */
  function loadThumbnail(card) {
    const { item } = card;
    if (card.thumbState !== "none" && card.thumbState !== "failed") return;
    if (!item.thumbnail_path) {
      setThumbText(card, isSettled(item.processing_status) ? "No preview" : "Preview soon…");
      return;
    }
    card.thumbState = "loading";
    setThumbText(card, "Loading…");
    thumbnails
      .run(() => api.getFile(item.media_item_id, "photo", "thumbnail"))
      .then((blob) => {
        if (cards.get(item.media_item_id) !== card) return;
        const url = URL.createObjectURL(blob);
        if (card.objectUrl) URL.revokeObjectURL(card.objectUrl);
        card.objectUrl = url;
        card.img.src = url;
        card.thumbState = "loaded";
        card.thumb.replaceChildren(card.img);
      })
      .catch((error) => {
        if (cards.get(item.media_item_id) !== card) return;
        if (error instanceof NotReadyError) {
          card.thumbState = "waiting";
          setThumbText(card, "Preview being made…");
          card.retryTimer = setTimeout(() => {
            card.retryTimer = null;
            card.thumbState = "none";
            if (card.visible) loadThumbnail(card);
          }, error.retryAfter * 1000);
          return;
        }
        card.thumbState = "failed";
        setThumbText(card, "No preview");
        // A refused key matters to the whole page; one missing thumbnail does not.
        if (error instanceof ApiError && error.status === 403) context.report(error);
      });
  }

  /** @param {Card} card @param {string} text */
  function setThumbText(card, text) {
    if (card.thumbState === "loaded") return;
    const span = document.createElement("span");
    span.className = "thumb-text";
    span.textContent = text;
    card.thumb.replaceChildren(span);
  }

  /**
   * @param {MediaItem} item
   * @param {"start" | "end"} where
   * @returns {Card}
   */
  function add(item, where) {
    const existing = cards.get(item.media_item_id);
    if (existing) {
      update(existing, item);
      return existing;
    }
    pager.remember(item.media_item_id);
    const card = buildCard(item);
    cards.set(item.media_item_id, card);
    if (where === "start") list.prepend(card.li);
    else list.append(card.li);
    update(card, item, { initial: true });
    cardObserver.observe(card.li);
    paging.refresh();
    return card;
  }

  /** @param {MediaItem} item @returns {Card} */
  function buildCard(item) {
    const li = document.createElement("li");
    li.className = "card";
    li.dataset.mediaItemId = item.media_item_id;
    const nameId = `name-${item.media_item_id}`;

    const thumb = document.createElement("div");
    thumb.className = "thumb";
    const img = document.createElement("img");
    img.decoding = "async";
    img.alt = item.filename;

    const body = document.createElement("div");
    body.className = "body";
    const name = document.createElement("p");
    name.className = "name";
    name.id = nameId;
    const status = document.createElement("p");
    status.className = "status";
    body.append(name, status);

    const actions = document.createElement("div");
    actions.className = "actions";
    const open = button("open", "View in 3D", nameId);
    const regenerate = button("regenerate", "Make depth again", nameId);
    const remove = button("delete", "Delete", nameId);
    actions.append(open, regenerate, remove);

    li.append(thumb, body, actions);
    /** @type {Card} */
    const card = { item, li, img, thumb, objectUrl: null, thumbState: "none", visible: false, retryTimer: null };

    open.addEventListener("click", () => context.onOpen(card.item, open));
    regenerate.addEventListener("click", () => void regenerateItem(card, regenerate));
    remove.addEventListener("click", () => void deleteItem(card, remove));
    return card;
  }

  /**
   * @param {string} className
   * @param {string} text
   * @param {string} describedBy the card's name, so each button is told apart by assistive tech
   */
  function button(className, text, describedBy) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    b.setAttribute("aria-describedby", describedBy);
    return b;
  }

  /**
   * @param {Card} card
   * @param {MediaItem} item
   * @param {{initial?: boolean}} [options]
   */
  function update(card, item, { initial = false } = {}) {
    const before = card.item;
    card.item = item;
    const { li } = card;
    li.dataset.status = item.processing_status;
    /** @type {HTMLElement} */ (li.querySelector(".name")).textContent = item.filename;
    /** @type {HTMLElement} */ (li.querySelector(".status")).textContent = statusLabel(item.processing_status);
    // The reason is there only while the item is failed, so `.reason` means "this one failed because".
    const failed = item.processing_status === "failed";
    let reason = /** @type {HTMLElement | null} */ (li.querySelector(".reason"));
    if (failed) {
      if (!reason) {
        reason = document.createElement("p");
        reason.className = "reason";
        /** @type {HTMLElement} */ (li.querySelector(".status")).after(reason);
      }
      reason.textContent = item.last_error || "No reason was recorded.";
    } else {
      reason?.remove();
    }
    card.img.alt = item.filename;
    const open = /** @type {HTMLButtonElement} */ (li.querySelector("button.open"));
    open.disabled = loadPlan(item).length === 0;
    open.title = open.disabled ? "No depth map yet" : "";
    const regenerate = /** @type {HTMLButtonElement} */ (li.querySelector("button.regenerate"));
    regenerate.title = canRegenerate(item.processing_status) ? "" : "Possible once it is ready or has failed";

    if (!initial && before.processing_status !== item.processing_status && failed) {
      context.say(`${item.filename} failed${item.last_error ? `: ${item.last_error}` : "."}`, "error");
    }
    // A thumbnail that was not there yet may be now.
    if (card.thumbState !== "loaded" && card.thumbState !== "loading" && card.thumbState !== "waiting") {
      card.thumbState = "none";
      if (card.visible) loadThumbnail(card);
    }
    if (!isSettled(item.processing_status)) context.watch(item.media_item_id);
    if (!initial) context.onItem(item);
  }

  /** @param {Card} card @param {HTMLButtonElement} control */
  async function regenerateItem(card, control) {
    control.disabled = true;
    try {
      const answer = await api.regenerate(card.item.media_item_id);
      update(card, { ...card.item, processing_status: answer?.processingStatus || "queued", last_error: null });
      context.watch(card.item.media_item_id, 0);
      context.say(`${card.item.filename}: depth maps are being made again.`, "info");
    } catch (error) {
      context.report(error, `Making depth again for ${card.item.filename}`);
    } finally {
      control.disabled = false;
    }
  }

  /** @param {Card} card @param {HTMLButtonElement} control */
  async function deleteItem(card, control) {
    const { filename, media_item_id: id } = card.item;
    if (!context.confirm(`Delete ${filename} and all its depth maps? This cannot be undone.`)) return;
    control.disabled = true;
    try {
      await api.deleteMedia(id);
      remove(id);
      context.say(`${filename} was deleted.`, "info");
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        remove(id);
        return;
      }
      control.disabled = false;
      context.report(error, `Deleting ${filename}`);
    }
  }

  /** @param {string} id */
  function remove(id) {
    const card = cards.get(id);
    context.unwatch(id);
    if (!card) return;
    cards.delete(id);
    pager.forget(id);
    cardObserver.unobserve(card.li);
    if (card.retryTimer) clearTimeout(card.retryTimer);
    if (card.objectUrl) URL.revokeObjectURL(card.objectUrl);
    // Keep keyboard focus in the list rather than losing it to the page's top.
    const next = /** @type {HTMLElement | null} */ (card.li.nextElementSibling || card.li.previousElementSibling);
    const hadFocus = card.li.contains(document.activeElement);
    card.li.remove();
    if (hadFocus) /** @type {HTMLElement | null} */ (next?.querySelector("button.open:not(:disabled), button"))?.focus();
    paging.refresh();
    context.onRemoved(id);
  }

  /**
   * One status poll, for the shared limiter.
   * @param {string} id
   * @returns {Promise<{done: boolean, changed?: boolean}>}
   */
  async function poll(id) {
    const card = cards.get(id);
    if (!card) return { done: true };
    let item;
    try {
      item = /** @type {MediaItem} */ (await api.getMedia(id));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        remove(id);
        return { done: true };
      }
      throw error;
    }
    if (cards.get(id) !== card) return { done: true };
    const changed =
      item.processing_status !== card.item.processing_status ||
      item.thumbnail_depth_map_id !== card.item.thumbnail_depth_map_id ||
      item.preview_depth_map_id !== card.item.preview_depth_map_id ||
      item.full_res_depth_map_id !== card.item.full_res_depth_map_id ||
      item.thumbnail_path !== card.item.thumbnail_path;
    if (item.processing_status === "deleted") {
      remove(id);
      return { done: true };
    }
    if (changed) update(card, item);
    return { done: isSettled(item.processing_status), changed };
  }

  return {
    /** Shows the first page and keeps paging as the person scrolls. */
    start: paging.start,
    /** Forgets everything shown (a refused key): start() shows it again. */
    reset() {
      for (const id of [...cards.keys()]) {
        const card = /** @type {Card} */ (cards.get(id));
        context.unwatch(id);
        cardObserver.unobserve(card.li);
        if (card.retryTimer) clearTimeout(card.retryTimer);
        if (card.objectUrl) URL.revokeObjectURL(card.objectUrl);
        card.li.remove();
      }
      cards.clear();
      paging.reset();
    },
    /**
     * Puts a new item (an upload, an import) at the top, or refreshes it where it is.
     * @param {MediaItem} item
     */
    prepend(item) {
      return add(item, "start");
    },
    /**
     * Adds an item known only by id (just uploaded or imported): read it, then show and poll it.
     * @param {string} id
     * @param {Partial<MediaItem>} fallback shown if the read fails
     */
    async addById(id, fallback) {
      try {
        const item = /** @type {MediaItem} */ (await api.getMedia(id));
        add(item, "start");
      } catch (error) {
        if (error instanceof ApiError && error.status === 403) {
          context.report(error);
          return;
        }
        add(/** @type {MediaItem} */ ({ processing_status: "pending", filename: "photo", ...fallback, media_item_id: id }), "start");
        context.watch(id, 0);
      }
    },
    poll,
    /** @param {string} id */
    get: (id) => cards.get(id)?.item ?? null,
  };
}

/** @typedef {ReturnType<typeof createGallery>} Gallery */
