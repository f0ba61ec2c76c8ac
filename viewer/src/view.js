// The 3D view of one item: the thumbnail version first for a quick first frame, then the larger
// version swapped in when it arrives; a version chosen by hand replaces the plan.
import { whenReady } from "./api.js";
import { ApiError, NetworkError, NotReadyError, describeError, isAbort, isKeyRefused } from "./errors.js";
import { decodeForTexture } from "./images.js";
import { availableVersions, loadPlan, versionLabel } from "./versions.js";
import { createDownloads } from "./downloads.js";
import { createScene } from "./scene.js";

/**
 * @typedef {import("./api.js").Api} Api
 * @typedef {import("./gallery.js").MediaItem} MediaItem
 * @typedef {import("./scene.js").DepthScene} DepthScene
 */

/**
 * @param {{
 *   section: HTMLElement, canvas: HTMLCanvasElement, title: HTMLElement, close: HTMLButtonElement,
 *   stage: HTMLElement, status: HTMLElement, strength: HTMLInputElement, version: HTMLSelectElement,
 *   downloads: HTMLDetailsElement, downloadList: HTMLUListElement, downloadStatus: HTMLElement,
 *   background: HTMLElement[],
 * }} elements
 * @param {{api: Api, apiBase: string, report: (error: unknown, action?: string) => void}} context
 */
export function createView(elements, context) {
  const { section, canvas, title, status, strength, version: versionSelect } = elements;
  const { api } = context;
  /** @type {DepthScene | null} */
  let scene = null;
  /** @type {MediaItem | null} */
  let item = null;
  /** @type {AbortController | null} */
  let loading = null;
  /** @type {HTMLElement | null} */
  let opener = null;
  /** Set once the person picks a version: the automatic swap to a larger one then stops. */
  let chosen = false;
  /** @type {string | null} the version being fetched or decoded */
  let pendingVersion = null;

  const downloads = createDownloads(
    { details: elements.downloads, list: elements.downloadList, status: elements.downloadStatus },
    { api, report: context.report },
  );

  function say(/** @type {string} */ text) {
    status.textContent = text;
  }

  /** @returns {DepthScene} throws where WebGL is unavailable */
  function getScene() {
    scene ??= createScene(canvas, { vrHost: elements.stage });
    return scene;
  }

  function strengthValue() {
    const v = Number(strength.value);
    return Number.isFinite(v) ? v : 0.35;
  }

  /** @param {MediaItem} current */
  function fillVersions(current) {
    const versions = availableVersions(current);
    const keep = versionSelect.value;
    versionSelect.replaceChildren(
      ...versions.map((v) => {
        const option = document.createElement("option");
        option.value = v;
        option.textContent = versionLabel(v);
        return option;
      }),
    );
    versionSelect.disabled = versions.length === 0;
    if (versions.includes(keep)) versionSelect.value = keep;
  }

  /**
   * Fetches and decodes one version, then hands it to the scene.
   * @param {MediaItem} current
   * @param {string} version
   * @param {AbortSignal} signal
   */
  async function loadVersion(current, version, signal) {
    const s = getScene();
    pendingVersion = version;
    canvas.dataset.pendingVersion = version;
    canvas.setAttribute("aria-busy", "true");
    say(`Loading the ${versionLabel(version).toLowerCase()} version…`);
    const onWait = (/** @type {NotReadyError} */ e) => {
      if (!signal.aborted) say(`The ${versionLabel(version).toLowerCase()} version is being made; trying again in ${e.retryAfter} s.`);
    };
    const fetchFile = (/** @type {"photo" | "depth"} */ kind) =>
      whenReady(() => api.getFile(current.media_item_id, kind, version, { signal }), { signal, onWait });
    const [photoBlob, depthBlob] = await Promise.all([fetchFile("photo"), fetchFile("depth")]);
    const maxSize = s.maxTextureSize;
    const [photo, depth] = await Promise.all([
      decodeForTexture(photoBlob, { depth: false, maxSize }),
      decodeForTexture(depthBlob, { depth: true, maxSize }),
    ]);
    if (signal.aborted) {
      for (const d of [photo, depth]) /** @type {{close?: () => void}} */ (d.source).close?.();
      throw new DOMException("Aborted", "AbortError");
    }
    s.setImages(photo, depth, version);
    pendingVersion = null;
    delete canvas.dataset.pendingVersion;
    canvas.removeAttribute("aria-busy");
    versionSelect.value = version;
    downloads.setTarget(current, version);
    say("");
  }

  /**
   * Loads versions in order; a failure after something is shown leaves that on screen.
   * @param {MediaItem} current
   * @param {string[]} versions
   */
  async function run(current, versions) {
    loading?.abort();
    const controller = new AbortController();
    loading = controller;
    for (const v of versions) {
      try {
        await loadVersion(current, v, controller.signal);
      } catch (error) {
        if (isAbort(error) || controller.signal.aborted) return;
        fail(error, v);
        return;
      }
    }
    if (loading === controller) loading = null;
  }

  /** @param {unknown} error @param {string} version */
  function fail(error, version) {
    pendingVersion = null;
    delete canvas.dataset.pendingVersion;
    canvas.removeAttribute("aria-busy");
    if (isKeyRefused(error)) {
      context.report(error);
      return;
    }
    let message;
    if (error instanceof NetworkError) {
      message = `The ${versionLabel(version).toLowerCase()} version could not be downloaded (the API or its storage could not be reached).`;
    } else if (error instanceof ApiError && error.status === 404) {
      message = `The ${versionLabel(version).toLowerCase()} version is not there${error.apiMessage ? `: ${error.apiMessage}` : "."}`;
    } else {
      message = describeError(error, { apiBase: context.apiBase, action: `Loading the ${versionLabel(version).toLowerCase()} version` });
    }
    if (!scene?.version) {
      canvas.dataset.state = "error";
      say(message || "");
    } else {
      say("");
    }
    if (message) context.report(new Error(message));
  }

  function onKeydown(/** @type {KeyboardEvent} */ event) {
    if (event.key !== "Escape" || section.hidden) return;
    event.preventDefault();
    // Escape leaves VR first (back to the on-screen view), then closes the view.
    if (scene?.isPresenting) void scene.endXR().catch(() => {});
    else void close();
  }

  /**
   * @param {MediaItem} target
   * @param {HTMLElement} [from] the button that opened it; focus goes back there on close
   */
  async function open(target, from) {
    opener = from ?? null;
    chosen = false;
    item = target;
    title.textContent = target.filename;
    canvas.setAttribute("aria-label", `${target.filename} in 3D. Arrow keys move the point of view.`);
    canvas.dataset.state = "loading";
    delete canvas.dataset.version;
    section.hidden = false;
    for (const el of elements.background) el.inert = true;
    document.addEventListener("keydown", onKeydown);
    elements.close.focus();
    downloads.close();
    fillVersions(target);
    say("Loading…");

    let s;
    try {
      s = getScene();
    } catch {
      canvas.dataset.state = "error";
      const message = "This browser cannot show the photo in 3D: WebGL is not available.";
      say(message);
      context.report(new Error(message));
      return;
    }
    if (item !== target) return;
    s.clear();
    s.setActive(true);
    s.setStrength(strengthValue());

    // The gallery's copy may be a poll behind: the freshest ids decide what there is to load.
    let fresh = target;
    try {
      fresh = /** @type {MediaItem} */ (await api.getMedia(target.media_item_id));
    } catch (error) {
      if (isKeyRefused(error)) {
        context.report(error);
        return;
      }
    }
    if (item !== target) return;
    item = fresh;
    fillVersions(fresh);
    const plan = loadPlan(fresh);
    if (plan.length === 0) {
      canvas.dataset.state = "error";
      const message = `${fresh.filename} has no depth map yet.`;
      say(message);
      return;
    }
    await run(fresh, plan);
  }

  async function close() {
    if (section.hidden) return;
    loading?.abort();
    loading = null;
    item = null;
    pendingVersion = null;
    if (scene?.isPresenting) {
      try {
        await scene.endXR();
      } catch {
        // The session was ending anyway.
      }
    }
    scene?.setActive(false);
    scene?.clear();
    downloads.close();
    document.removeEventListener("keydown", onKeydown);
    for (const el of elements.background) el.inert = false;
    section.hidden = true;
    canvas.dataset.state = "loading";
    delete canvas.dataset.pendingVersion;
    canvas.removeAttribute("aria-busy");
    if (opener?.isConnected) opener.focus();
    opener = null;
  }

  strength.addEventListener("input", () => {
    scene?.setStrength(strengthValue());
    strength.setAttribute("aria-valuetext", strengthValue() === 0 ? "flat" : String(strengthValue()));
  });

  versionSelect.addEventListener("change", () => {
    if (!item) return;
    chosen = true;
    const v = versionSelect.value;
    if (v === scene?.version && !pendingVersion) return;
    void run(item, [v]);
  });

  elements.close.addEventListener("click", () => void close());

  return {
    open,
    close,
    /** @returns {string | null} the id of the item shown */
    get itemId() {
      return item?.media_item_id ?? null;
    },
    /**
     * The gallery learnt something new of an item: a larger version made while it is shown is
     * swapped in, unless the person chose a version.
     * @param {MediaItem} updated
     */
    itemChanged(updated) {
      if (!item || updated.media_item_id !== item.media_item_id) return;
      const before = item;
      item = { ...item, ...updated };
      fillVersions(item);
      if (chosen || pendingVersion) return;
      const plan = loadPlan(item);
      const best = plan.at(-1);
      if (best && best !== scene?.version && loadPlan(before).at(-1) !== best) void run(item, [best]);
    },
    /** @param {string} id */
    itemRemoved(id) {
      if (item?.media_item_id === id) void close();
    },
  };
}

/** @typedef {ReturnType<typeof createView>} View */
