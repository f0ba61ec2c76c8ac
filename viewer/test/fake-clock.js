// A clock for the poll limiter's tests: time moves only when the test says, and every promise the
// limiter is waiting on settles before the next timer fires. Not a test file itself (no .test.js).

export function createFakeClock() {
  let now = 0;
  let nextHandle = 1;
  /** @type {Map<number, {at: number, fn: () => void}>} */
  const timers = new Map();
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const handle = nextHandle++;
      timers.set(handle, { at: now + Math.max(0, ms), fn });
      return handle;
    },
    clearTimeout(handle) {
      timers.delete(handle);
    },
    /** Moves time forward by `ms`, firing each timer at its own moment. */
    async advance(ms) {
      const end = now + ms;
      await flush();
      for (;;) {
        let next = null;
        for (const [handle, t] of timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [handle, t];
        if (!next) break;
        timers.delete(next[0]);
        now = Math.max(now, next[1].at);
        next[1].fn();
        await flush();
        await flush();
      }
      now = end;
      await flush();
    },
    get pending() {
      return timers.size;
    },
  };
}
