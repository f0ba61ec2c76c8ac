// Boot: find the API, take the key, check it, then show the gallery. Every expected failure ends in
// the notice area, never as a blank page or an uncaught error.
import { apiBaseFrom, createApi } from "./api.js";
import { describeError, isKeyRefused, NetworkError } from "./errors.js";
import { createGallery } from "./gallery.js";
import { createKeyStore, takeKeyFromLocation } from "./key.js";
import { createLibrary } from "./library.js";
import { createNotice } from "./notice.js";
import { createPollLimiter } from "./polling.js";
import { setUpTabs } from "./tabs.js";
import { createUploads } from "./upload.js";
import { createView } from "./view.js";

/** @template {HTMLElement} T @param {string} id @returns {T} */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return /** @type {T} */ (el);
}

function sessionStore() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

const apiBase = apiBaseFrom(document.baseURI);
const keys = createKeyStore(sessionStore());
takeKeyFromLocation(window.location, window.history, keys);
const api = createApi({ base: apiBase, getKey: () => keys.get() });
const notice = createNotice($("notice"));

const keyForm = /** @type {HTMLFormElement} */ ($("key-form"));
const keyInput = /** @type {HTMLInputElement} */ ($("api-key"));
const app = $("app");
const forgetKey = /** @type {HTMLButtonElement} */ ($("forget-key"));

const REFUSED = "That API key was refused. Check it and enter it again.";

/**
 * The page's one way of telling of a failure: a refused key brings the key form back, anything
 * else becomes a sentence in the notice.
 * @param {unknown} error
 * @param {string} [action]
 */
function report(error, action) {
  if (isKeyRefused(error)) {
    keyRefused();
    return;
  }
  const message = describeError(error, { apiBase: apiBase.href, action });
  if (message) notice.show(message, { kind: "error", retry: error instanceof NetworkError ? () => void connect() : undefined });
}

/** @param {string} message @param {"error" | "info"} [kind] */
function say(message, kind = "info") {
  notice.show(message, { kind });
}

const limiter = createPollLimiter({
  poll: (id) => gallery.poll(id),
  isHidden: () => document.hidden,
  onError: (_id, error) => {
    // A poll that failed is asked again later; only a refused key or a lost API is worth saying.
    if (isKeyRefused(error) || error instanceof NetworkError) report(error);
  },
});

const gallery = createGallery(
  { list: $("gallery"), sentinel: $("gallery-sentinel"), loadMore: $("load-more"), empty: $("gallery-empty") },
  {
    api,
    report,
    say,
    watch: (id, delayMs) => limiter.watch(id, delayMs === undefined ? undefined : { delayMs }),
    unwatch: (id) => limiter.unwatch(id),
    confirm: (message) => window.confirm(message),
    onOpen: (item, opener) => void view.open(item, opener),
    onItem: (item) => {
      library.itemChanged(item);
      view.itemChanged(item);
    },
    onRemoved: (id) => {
      library.itemRemoved(id);
      view.itemRemoved(id);
    },
  },
);

const library = createLibrary(
  { list: $("library"), sentinel: $("library-sentinel"), loadMore: $("library-load-more"), error: $("library-error"), empty: $("library-empty") },
  {
    api,
    apiBase: apiBase.href,
    report,
    onImported: (mediaItemId, asset) => void gallery.addById(mediaItemId, { filename: asset.filename, immich_asset_id: asset.assetId, source_type: "immich" }),
  },
);

createUploads(
  { dropZone: $("drop-zone"), input: $("upload-input"), list: $("uploads") },
  {
    api,
    apiBase: apiBase.href,
    report,
    onUploaded: (mediaItemId, file) => void gallery.addById(mediaItemId, { filename: file.name, source_type: "upload" }),
  },
);

const view = createView(
  {
    section: $("view"),
    canvas: $("depth-canvas"),
    title: $("view-title"),
    close: $("view-close"),
    stage: $("view-stage"),
    status: $("view-status"),
    strength: $("depth-strength"),
    version: $("version"),
    downloads: $("downloads"),
    downloadList: $("download-list"),
    downloadStatus: $("downloads-status"),
    // The notice stays reachable above the view: errors of the view are said there too.
    background: [$("main"), ...document.querySelectorAll(".site-header, .site-footer")].map((el) => /** @type {HTMLElement} */ (el)),
  },
  { api, apiBase: apiBase.href, report },
);

const tabs = setUpTabs(/** @type {HTMLElement} */ (document.querySelector('[role="tablist"]')), (tab) => {
  if (tab.id === "tab-import") library.start();
});

function showKeyForm() {
  app.hidden = true;
  forgetKey.hidden = true;
  keyForm.hidden = false;
  keyInput.focus();
}

function stopEverything() {
  limiter.clear();
  void view.close();
  gallery.reset();
  library.reset();
  tabs.select($("tab-gallery"));
}

function keyRefused() {
  keys.clear();
  stopEverything();
  notice.show(REFUSED, { kind: "error" });
  showKeyForm();
}

let connecting = false;

/** Checks the key against the API's health route, then shows the gallery. */
async function connect() {
  if (connecting) return;
  if (!keys.get()) {
    showKeyForm();
    return;
  }
  connecting = true;
  document.body.setAttribute("aria-busy", "true");
  const CONNECTING = `Connecting to the API at ${apiBase.href}…`;
  // Never a blank page: until the key is checked, this says what is going on.
  if (app.hidden) notice.show(CONNECTING, { kind: "info" });
  try {
    await api.health();
    keyForm.hidden = true;
    app.hidden = false;
    forgetKey.hidden = false;
    if (notice.message === REFUSED || notice.message === CONNECTING) notice.hide();
    gallery.start();
  } catch (error) {
    report(error, undefined);
  } finally {
    connecting = false;
    document.body.removeAttribute("aria-busy");
  }
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return;
  keys.set(key);
  keyInput.value = "";
  notice.hide();
  void connect();
});

forgetKey.addEventListener("click", () => {
  keys.clear();
  stopEverything();
  notice.show("The API key was forgotten.", { kind: "info" });
  showKeyForm();
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) limiter.wake();
});

// A file dropped outside the drop zone would otherwise replace the page with the file.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if (!(event.target instanceof Node && $("drop-zone").contains(event.target))) event.preventDefault();
  });
}

// What slips through (a refused XR session, say) still ends as a sentence, not a console error.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  report(event.reason);
});

void connect();
