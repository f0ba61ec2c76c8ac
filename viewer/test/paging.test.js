import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createPager } from "../src/paging.js";

/** Pages of ids, walked by the cursor "p<n>". */
function pages(...lists) {
  const asked = [];
  const fetchPage = async (cursor) => {
    asked.push(cursor);
    const n = cursor ? Number(cursor.slice(1)) : 0;
    return { items: lists[n].map((id) => ({ id })), nextCursor: n + 1 < lists.length ? `p${n + 1}` : null };
  };
  return { asked, fetchPage };
}

describe("paging", () => {
  it("walks the pages by their cursors until the last", async () => {
    const source = pages(["a", "b"], ["c"]);
    const pager = createPager(source.fetchPage, (x) => x.id);
    assert.deepEqual((await pager.next()).map((x) => x.id), ["a", "b"]);
    assert.equal(pager.hasMore, true);
    assert.deepEqual((await pager.next()).map((x) => x.id), ["c"]);
    assert.equal(pager.hasMore, false);
    assert.deepEqual(await pager.next(), []);
    assert.deepEqual(source.asked, [null, "p1"]);
  });

  it("asks one page at a time, however often it is asked", async () => {
    const source = pages(["a"], ["b"]);
    const pager = createPager(source.fetchPage, (x) => x.id);
    const [one, two] = await Promise.all([pager.next(), pager.next()]);
    assert.equal(one, two);
    assert.deepEqual(source.asked, [null]);
  });

  it("shows an item once, even when a later page repeats it or it was added meanwhile", async () => {
    const source = pages(["a", "b"], ["b", "c", "new"]);
    const pager = createPager(source.fetchPage, (x) => x.id);
    await pager.next();
    pager.remember("new");
    assert.deepEqual((await pager.next()).map((x) => x.id), ["c"]);
  });

  it("asks a failed page again with the same cursor", async () => {
    let fail = true;
    const asked = [];
    const pager = createPager(async (cursor) => {
      asked.push(cursor);
      if (cursor === "p1" && fail) {
        fail = false;
        throw new Error("offline");
      }
      return cursor ? { items: [{ id: "b" }], nextCursor: null } : { items: [{ id: "a" }], nextCursor: "p1" };
    }, (x) => x.id);
    await pager.next();
    await assert.rejects(pager.next(), /offline/);
    assert.equal(pager.loading, false);
    assert.deepEqual((await pager.next()).map((x) => x.id), ["b"]);
    assert.deepEqual(asked, [null, "p1", "p1"]);
  });

  it("starts over on reset, dropping a page still on its way", async () => {
    let release;
    const slow = new Promise((resolve) => { release = resolve; });
    let first = true;
    const pager = createPager(async () => {
      if (first) {
        first = false;
        await slow;
        return { items: [{ id: "stale" }], nextCursor: "p1" };
      }
      return { items: [{ id: "fresh" }], nextCursor: null };
    }, (x) => x.id);
    const old = pager.next();
    pager.reset();
    const now = pager.next();
    release();
    assert.deepEqual(await old, []);
    assert.deepEqual((await now).map((x) => x.id), ["fresh"]);
    assert.equal(pager.hasMore, false);
  });
});
