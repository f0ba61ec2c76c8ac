// The API key: read once from the address bar's fragment (never sent to a server, unlike a query),
// then kept for the tab only (sessionStorage), so closing the tab forgets it.

export const STORAGE_KEY = "immichvr-depth.api-key";

/**
 * Splits `#key=KEY&other=1` into the key and what remains of the fragment.
 * @param {string} hash location.hash, with or without its leading "#"
 * @returns {{found: boolean, key: string | null, rest: string}} found: the fragment names `key`
 *   (even empty); rest is "" or starts with "#"
 */
export function parseKeyFragment(hash) {
  const raw = (hash || "").replace(/^#/, "");
  if (!raw) return { found: false, key: null, rest: "" };
  const params = new URLSearchParams(raw);
  if (!params.has("key")) return { found: false, key: null, rest: `#${raw}` };
  const key = params.get("key")?.trim() || null;
  params.delete("key");
  const remaining = params.toString();
  return { found: true, key, rest: remaining ? `#${remaining}` : "" };
}

/**
 * @typedef {{getItem(k: string): string | null, setItem(k: string, v: string): void, removeItem(k: string): void}} StorageLike
 */

/**
 * @param {StorageLike | null} storage null where storage is blocked (private modes): the key then
 *   lives in memory for the page's life
 */
export function createKeyStore(storage) {
  /** @type {string | null} */
  let memory = null;
  return {
    /** @returns {string | null} */
    get() {
      try {
        return storage?.getItem(STORAGE_KEY) || memory;
      } catch {
        return memory;
      }
    },
    /** @param {string} key */
    set(key) {
      memory = key;
      try {
        storage?.setItem(STORAGE_KEY, key);
      } catch {
        // Storage refused (quota, privacy mode): the in-memory copy still serves this page.
      }
    },
    clear() {
      memory = null;
      try {
        storage?.removeItem(STORAGE_KEY);
      } catch {
        // Nothing stored to clear.
      }
    },
  };
}

/**
 * Moves a key given in the fragment into the store and out of the address bar (and so out of the
 * history and of anything the person copies), keeping path and query.
 * @param {{pathname: string, search: string, hash: string}} location
 * @param {{replaceState(data: unknown, unused: string, url: string): void, state?: unknown}} history
 * @param {ReturnType<typeof createKeyStore>} store
 * @returns {boolean} whether a key was taken
 */
export function takeKeyFromLocation(location, history, store) {
  const { found, key, rest } = parseKeyFragment(location.hash);
  if (!found) return false;
  history.replaceState(history.state ?? null, "", `${location.pathname}${location.search}${rest}`);
  if (!key) return false;
  store.set(key);
  return true;
}
