// Cursor paging shared by the gallery and the Immich library: one page in flight at a time, a page
// that failed can be asked again, and an item is shown once even if it reappears on a later page.

/**
 * @template T
 * @param {(cursor: string | null) => Promise<{items: T[], nextCursor: string | null}>} fetchPage
 * @param {(item: T) => string} idOf
 */
export function createPager(fetchPage, idOf) {
  /** @type {string | null} */
  let cursor = null;
  let done = false;
  /** @type {Promise<T[]> | null} */
  let inFlight = null;
  let generation = 0;
  const seen = new Set();

  return {
    get hasMore() {
      return !done;
    },
    get loading() {
      return inFlight !== null;
    },
    /**
     * The next page's new items; [] when there are no more. Concurrent calls share one request.
     * @returns {Promise<T[]>}
     */
    next() {
      if (done) return Promise.resolve([]);
      if (inFlight) return inFlight;
      const asked = generation;
      inFlight = (async () => {
        try {
          const page = await fetchPage(cursor);
          if (asked !== generation) return [];
          cursor = page.nextCursor ?? null;
          done = cursor === null;
          const fresh = [];
          for (const item of page.items) {
            const id = idOf(item);
            if (seen.has(id)) continue;
            seen.add(id);
            fresh.push(item);
          }
          return fresh;
        } finally {
          if (asked === generation) inFlight = null;
        }
      })();
      return inFlight;
    },
    /** Marks an item shown by other means (an upload, an import), so a page does not repeat it. @param {string} id */
    remember(id) {
      seen.add(id);
    },
    /** @param {string} id */
    forget(id) {
      seen.delete(id);
    },
    /** @param {string} id */
    has: (id) => seen.has(id),
    /** Back to the first page, dropping any page still on its way. */
    reset() {
      generation += 1;
      cursor = null;
      done = false;
      inFlight = null;
      seen.clear();
    },
  };
}
