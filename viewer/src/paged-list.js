// A list that asks its pager for the next page as the person scrolls near its end (or presses its
// "Load more" button), and keeps the button, the empty state and the list's busy state in step.
// The gallery and the Immich library differ only in what a page's entries become and in what an
// error means, which they say through the callbacks.

/**
 * @template T
 * @typedef {{
 *   hasMore: boolean, loading: boolean, next: () => Promise<T[]>, reset: () => void,
 * }} Pager
 */

/**
 * @template T
 * @param {{
 *   pager: Pager<T>, list: HTMLElement, sentinel: HTMLElement, loadMore: HTMLButtonElement,
 *   empty: HTMLElement, errorLine?: HTMLElement,
 * }} elements the list holds one child per entry, which is how it knows it is empty
 * @param {{
 *   addPage: (entries: T[]) => void,
 *   pageFailed: (error: unknown) => string | null,
 * }} callbacks pageFailed answers what to show in errorLine, which also stops the automatic paging
 *   until the person asks again; null when the error was taken care of elsewhere
 */
export function createPagedList({ pager, list, sentinel, loadMore, empty, errorLine }, { addPage, pageFailed }) {
  let started = false;
  let failed = false;

  const sentinelObserver = new IntersectionObserver(
    (entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadNextPage();
    },
    { rootMargin: "400px" },
  );

  function refresh() {
    loadMore.hidden = !pager.hasMore || !started;
    loadMore.disabled = pager.loading;
    loadMore.textContent = failed ? "Try again" : "Load more";
    empty.hidden = list.childElementCount > 0 || pager.hasMore || pager.loading || failed;
    list.setAttribute("aria-busy", String(pager.loading));
  }

  /** @param {boolean} shown @param {string} [message] */
  function showFailure(shown, message = "") {
    failed = shown;
    if (!errorLine) return;
    if (shown) errorLine.textContent = message;
    errorLine.hidden = !shown;
  }

  async function loadNextPage() {
    if (!started || !pager.hasMore || pager.loading) return;
    const loading = pager.next();
    refresh();
    try {
      const entries = await loading;
      showFailure(false);
      addPage(entries);
    } catch (error) {
      const message = pageFailed(error);
      if (message !== null) {
        showFailure(true, message);
        sentinelObserver.disconnect();
      }
    } finally {
      refresh();
    }
    // A short page leaves the sentinel in view, which the observer does not report again.
    if (!failed && pager.hasMore && !pager.loading) {
      sentinelObserver.unobserve(sentinel);
      sentinelObserver.observe(sentinel);
    }
  }

  loadMore.addEventListener("click", () => {
    if (failed && started) {
      showFailure(false);
      sentinelObserver.observe(sentinel);
    }
    void loadNextPage();
  });

  return {
    /** Shows the first page and keeps paging as the person scrolls; once, until reset(). */
    start() {
      if (started) return;
      started = true;
      failed = false;
      refresh();
      sentinelObserver.observe(sentinel);
      void loadNextPage();
    },
    /** Back to before start(), at the first page; the entries are the caller's to remove. */
    reset() {
      started = false;
      sentinelObserver.disconnect();
      showFailure(false);
      pager.reset();
      refresh();
    },
    /** For the caller to use after it adds or removes an entry itself. */
    refresh,
  };
}
