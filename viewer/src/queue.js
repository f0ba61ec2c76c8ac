// At most `limit` tasks at a time, the rest waiting in order: thumbnails of a page scrolled into
// view load a few at a time instead of all at once.

/** @param {number} limit */
export function createQueue(limit) {
  let running = 0;
  /** @type {Array<() => void>} */
  const waiting = [];

  /**
   * @template T
   * @param {() => Promise<T>} task
   * @returns {Promise<T>}
   */
  async function run(task) {
    if (running >= limit) await new Promise((resolve) => waiting.push(() => resolve(undefined)));
    running += 1;
    try {
      return await task();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  }
  return { run };
}
