// One limiter for every status poll of the page. The API's usage plan allows 50 requests/s per key;
// the page stays far inside it (4/s by default) however many items are being made, each item is asked
// at most every 2 s, backing off towards 10 s while it keeps not changing, and nothing is asked while
// the page is hidden.

/**
 * @typedef {{now(): number, setTimeout(fn: () => void, ms: number): unknown, clearTimeout(handle: unknown): void}} Clock
 * @typedef {{done: boolean, changed?: boolean}} PollOutcome
 */

/** @type {Clock} */
const realClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(/** @type {ReturnType<typeof setTimeout>} */ (handle)),
};

/**
 * The wait before an item's next poll: longer each time it did not change, back to the shortest
 * when it did.
 * @param {number} current the last wait in ms
 * @param {boolean} changed
 * @param {{minIntervalMs: number, maxIntervalMs: number, backoff: number}} limits
 */
export function nextInterval(current, changed, { minIntervalMs, maxIntervalMs, backoff }) {
  if (changed) return minIntervalMs;
  return Math.min(maxIntervalMs, Math.max(minIntervalMs, current * backoff));
}

/**
 * @param {{
 *   poll: (id: string) => Promise<PollOutcome>,
 *   onError?: (id: string, error: unknown) => void,
 *   maxPerSecond?: number,
 *   maxConcurrent?: number,
 *   minIntervalMs?: number,
 *   maxIntervalMs?: number,
 *   backoff?: number,
 *   isHidden?: () => boolean,
 *   clock?: Clock,
 * }} options
 */
export function createPollLimiter({
  poll,
  onError = () => {},
  maxPerSecond = 4,
  maxConcurrent = 2,
  minIntervalMs = 2000,
  maxIntervalMs = 10000,
  backoff = 1.5,
  isHidden = () => false,
  clock = realClock,
}) {
  const gapMs = 1000 / maxPerSecond;
  const limits = { minIntervalMs, maxIntervalMs, backoff };
  /** @type {Map<string, {due: number, interval: number, inFlight: boolean}>} */
  const entries = new Map();
  let lastStart = -Infinity;
  let inFlight = 0;
  let stopped = false;
  /** @type {unknown} */
  let timer = null;

  function schedule() {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
    if (stopped || isHidden()) return;
    let earliest = Infinity;
    for (const entry of entries.values()) if (!entry.inFlight && entry.due < earliest) earliest = entry.due;
    if (earliest === Infinity || inFlight >= maxConcurrent) return;
    const at = Math.max(earliest, lastStart + gapMs);
    timer = clock.setTimeout(() => {
      timer = null;
      pump();
    }, Math.max(0, at - clock.now()));
  }

  function pump() {
    if (stopped || isHidden()) return;
    const now = clock.now();
    if (inFlight < maxConcurrent && now - lastStart >= gapMs) {
      /** @type {[string, {due: number, interval: number, inFlight: boolean}] | null} */
      let pick = null;
      for (const pair of entries) if (!pair[1].inFlight && (!pick || pair[1].due < pick[1].due)) pick = pair;
      if (pick && pick[1].due <= now) start(pick[0], pick[1], now);
    }
    schedule();
  }

  /** @param {string} id @param {{due: number, interval: number, inFlight: boolean}} entry @param {number} now */
  function start(id, entry, now) {
    entry.inFlight = true;
    inFlight += 1;
    lastStart = now;
    /** @param {PollOutcome | null} outcome @param {unknown} [error] */
    const finish = (outcome, error) => {
      inFlight -= 1;
      entry.inFlight = false;
      // Unwatched (or watched afresh) while the request was out: its answer no longer decides anything.
      if (entries.get(id) === entry) {
        if (outcome?.done) {
          entries.delete(id);
        } else {
          entry.interval = outcome ? nextInterval(entry.interval, Boolean(outcome.changed), limits) : maxIntervalMs;
          entry.due = clock.now() + entry.interval;
        }
      }
      if (error !== undefined) onError(id, error);
      pump();
    };
    Promise.resolve()
      .then(() => poll(id))
      .then(
        (outcome) => finish(outcome),
        (error) => finish(null, error),
      );
  }

  return {
    /**
     * Polls `id` until its poll says done. Watching an item already watched keeps its schedule.
     * @param {string} id
     * @param {{delayMs?: number}} [options] wait before the first poll (the caller just read it)
     */
    watch(id, { delayMs = minIntervalMs } = {}) {
      if (stopped || entries.has(id)) return;
      // Interval 0: the first wait after a poll is the shortest, growing from there.
      entries.set(id, { due: clock.now() + delayMs, interval: 0, inFlight: false });
      pump();
    },
    /** @param {string} id */
    unwatch(id) {
      entries.delete(id);
      schedule();
    },
    /** @param {string} id */
    has: (id) => entries.has(id),
    get size() {
      return entries.size;
    },
    /** Call when the page becomes visible again (or anything else made polls possible). */
    wake() {
      pump();
    },
    /** Forgets every item (a refused key, say); watch() starts again afterwards. */
    clear() {
      entries.clear();
      schedule();
    },
    stop() {
      stopped = true;
      entries.clear();
      schedule();
    },
  };
}
