// The downloads panel: presigned links to everything made of the shown version. The /urls route
// makes what is missing, so it is asked only once the person opens the panel.
import { askAgainAfter, downloadEntries } from "./links.js";
import { versionLabel } from "./versions.js";

/**
 * @typedef {import("./api.js").Api} Api
 * @typedef {{media_item_id: string, filename: string}} Target
 */

/**
 * @param {{details: HTMLDetailsElement, list: HTMLUListElement, status: HTMLElement}} elements
 * @param {{api: Api, report: (error: unknown, action?: string) => void}} context
 */
export function createDownloads({ details, list, status }, { api, report }) {
  /** @type {{item: Target, version: string} | null} */
  let target = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let asking = 0;

  function stopTimer() {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  async function ask() {
    stopTimer();
    if (!details.open || !target) return;
    const { item, version } = target;
    const turn = ++asking;
    status.textContent = `Getting the links of the ${versionLabel(version).toLowerCase()} version…`;
    list.setAttribute("aria-busy", "true");
    try {
      const urls = await api.getUrls(item.media_item_id, version);
      if (turn !== asking || !details.open) return;
      render(downloadEntries(urls, item.filename));
      const again = askAgainAfter(urls);
      const minutes = Math.max(1, Math.round((urls.expiresIn || 300) / 60));
      status.textContent = again
        ? `Some files are being made; asking again in ${again} s. Links work for ${minutes} min.`
        : `Links of the ${versionLabel(urls.version).toLowerCase()} version; they work for ${minutes} min.`;
      // Ask again while something is being made, and before the links expire.
      const wait = again ?? Math.max(30, (urls.expiresIn || 300) - 15);
      timer = setTimeout(() => void ask(), wait * 1000);
    } catch (error) {
      if (turn !== asking) return;
      status.textContent = "The links could not be fetched.";
      report(error, "Getting the download links");
    } finally {
      if (turn === asking) list.setAttribute("aria-busy", "false");
    }
  }

  /** @param {ReturnType<typeof downloadEntries>} entries */
  function render(entries) {
    list.replaceChildren(
      ...entries.map((entry) => {
        const li = document.createElement("li");
        li.dataset.kind = entry.kind;
        if (entry.url) {
          const a = document.createElement("a");
          a.href = entry.url;
          a.download = entry.filename;
          a.dataset.kind = entry.kind;
          a.rel = "noopener";
          a.textContent = entry.label;
          li.append(a);
        } else if (entry.pending) {
          li.className = "pending";
          li.textContent = `${entry.label}: being made…`;
        } else {
          li.className = "unavailable";
          li.textContent = `${entry.label}: not available yet`;
        }
        return li;
      }),
    );
  }

  details.addEventListener("toggle", () => {
    if (details.open) void ask();
    else stopTimer();
  });

  return {
    /**
     * The item and version the links are for; asked again at once if the panel is open.
     * @param {Target | null} item
     * @param {string | null} version
     */
    setTarget(item, version) {
      const same = target && item && target.item.media_item_id === item.media_item_id && target.version === version;
      if (same) return;
      target = item && version ? { item, version } : null;
      asking += 1;
      list.replaceChildren();
      status.textContent = "";
      if (details.open) void ask();
    },
    close() {
      asking += 1;
      stopTimer();
      target = null;
      details.open = false;
      list.replaceChildren();
      status.textContent = "";
    },
  };
}
