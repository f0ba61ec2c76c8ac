import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createQueue } from "../src/queue.js";

describe("the task queue", () => {
  it("runs at most `limit` tasks at once, the others in order", async () => {
    const queue = createQueue(2);
    let running = 0;
    let most = 0;
    const order = [];
    const task = (n) => async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(n);
      running -= 1;
      return n;
    };
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => queue.run(task(n))));
    assert.deepEqual(results, [1, 2, 3, 4, 5]);
    assert.equal(most, 2);
    assert.deepEqual(order.slice(2), [3, 4, 5]);
  });

  it("goes on after a task fails", async () => {
    const queue = createQueue(1);
    await assert.rejects(queue.run(async () => { throw new Error("no"); }), /no/);
    assert.equal(await queue.run(async () => "yes"), "yes");
  });
});
