import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createPollLimiter, nextInterval } from "../src/polling.js";
import { createFakeClock } from "./fake-clock.js";

/** Records when each id was polled; answers from `script(id, count)`. */
function recorder(clock, script = () => ({ done: false })) {
  const calls = [];
  const counts = new Map();
  return {
    calls,
    poll: async (id) => {
      const n = (counts.get(id) || 0) + 1;
      counts.set(id, n);
      calls.push({ id, at: clock.now() });
      return script(id, n);
    },
  };
}

describe("the poll interval", () => {
  const limits = { minIntervalMs: 2000, maxIntervalMs: 10000, backoff: 1.5 };

  it("grows while nothing changes, up to the longest", () => {
    assert.equal(nextInterval(2000, false, limits), 3000);
    assert.equal(nextInterval(3000, false, limits), 4500);
    assert.equal(nextInterval(9000, false, limits), 10000);
    assert.equal(nextInterval(10000, false, limits), 10000);
  });

  it("goes back to the shortest when the item changed", () => {
    assert.equal(nextInterval(10000, true, limits), 2000);
  });
});

describe("the shared poll limiter", () => {
  it("asks the whole page's items at no more than 4 requests a second", async () => {
    const clock = createFakeClock();
    const r = recorder(clock);
    const limiter = createPollLimiter({ poll: r.poll, clock });
    for (let i = 0; i < 100; i += 1) limiter.watch(`item-${i}`, { delayMs: 0 });
    await clock.advance(60_000);
    for (let t = 0; t + 1000 <= 60_000; t += 250) {
      const inWindow = r.calls.filter((c) => c.at >= t && c.at < t + 1000).length;
      assert.ok(inWindow <= 4, `${inWindow} requests in the second from ${t} ms`);
    }
    assert.ok(r.calls.length >= 200, `still polls steadily (${r.calls.length} in a minute)`);
    limiter.stop();
  });

  it("asks one item at most every 2 s, backing off towards 10 s", async () => {
    const clock = createFakeClock();
    const r = recorder(clock);
    const limiter = createPollLimiter({ poll: r.poll, clock });
    limiter.watch("a", { delayMs: 0 });
    await clock.advance(120_000);
    const gaps = r.calls.slice(1).map((c, i) => c.at - r.calls[i].at);
    assert.ok(gaps.every((g) => g >= 2000), `gaps ${gaps}`);
    assert.equal(gaps[0], 2000);
    assert.ok(gaps.at(-1) >= 10000 && gaps.at(-1) <= 10250, `last gap ${gaps.at(-1)}`);
    limiter.stop();
  });

  it("waits before the first poll of an item it was just given", async () => {
    const clock = createFakeClock();
    const r = recorder(clock);
    const limiter = createPollLimiter({ poll: r.poll, clock });
    limiter.watch("a");
    await clock.advance(1999);
    assert.equal(r.calls.length, 0);
    await clock.advance(1);
    assert.equal(r.calls.length, 1);
    limiter.stop();
  });

  it("stops polling an item once it is settled", async () => {
    const clock = createFakeClock();
    const r = recorder(clock, (_id, n) => ({ done: n >= 3, changed: true }));
    const limiter = createPollLimiter({ poll: r.poll, clock });
    limiter.watch("a", { delayMs: 0 });
    await clock.advance(60_000);
    assert.equal(r.calls.length, 3);
    assert.equal(limiter.has("a"), false);
    assert.equal(clock.pending, 0, "no timer left running");
  });

  it("never has more than two polls out at once", async () => {
    const clock = createFakeClock();
    let out = 0;
    let most = 0;
    const limiter = createPollLimiter({
      clock,
      poll: async () => {
        out += 1;
        most = Math.max(most, out);
        await new Promise((resolve) => clock.setTimeout(resolve, 5000));
        out -= 1;
        return { done: false };
      },
    });
    for (let i = 0; i < 10; i += 1) limiter.watch(`i${i}`, { delayMs: 0 });
    await clock.advance(30_000);
    assert.equal(most, 2);
    limiter.stop();
  });

  it("asks nothing while the page is hidden, and resumes when woken", async () => {
    const clock = createFakeClock();
    const r = recorder(clock);
    let hidden = true;
    const limiter = createPollLimiter({ poll: r.poll, clock, isHidden: () => hidden });
    limiter.watch("a", { delayMs: 0 });
    await clock.advance(60_000);
    assert.equal(r.calls.length, 0);
    hidden = false;
    limiter.wake();
    await clock.advance(0);
    assert.equal(r.calls.length, 1);
    limiter.stop();
  });

  it("backs off to the longest interval after a failed poll and reports it", async () => {
    const clock = createFakeClock();
    const errors = [];
    const r = recorder(clock, (_id, n) => {
      if (n === 1) throw new Error("offline");
      return { done: true };
    });
    const limiter = createPollLimiter({ poll: r.poll, clock, onError: (id, e) => errors.push([id, e.message]) });
    limiter.watch("a", { delayMs: 0 });
    await clock.advance(9_999);
    assert.equal(r.calls.length, 1);
    assert.deepEqual(errors, [["a", "offline"]]);
    await clock.advance(1);
    assert.equal(r.calls.length, 2);
  });

  it("drops the answer of an item unwatched while its poll was out", async () => {
    const clock = createFakeClock();
    const r = recorder(clock);
    const limiter = createPollLimiter({ poll: r.poll, clock });
    limiter.watch("a", { delayMs: 0 });
    limiter.unwatch("a");
    await clock.advance(30_000);
    assert.ok(r.calls.length <= 1);
    assert.equal(limiter.size, 0);
  });

  it("keeps one schedule for an item watched twice", async () => {
    const clock = createFakeClock();
    const r = recorder(clock);
    const limiter = createPollLimiter({ poll: r.poll, clock });
    limiter.watch("a", { delayMs: 0 });
    limiter.watch("a", { delayMs: 0 });
    await clock.advance(2_500);
    assert.equal(r.calls.length, 2, "at 0 and 2000 ms");
    limiter.stop();
  });
});
