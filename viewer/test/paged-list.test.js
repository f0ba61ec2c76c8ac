import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { createPagedList } from "../src/paged-list.js";
import { createPager } from "../src/paging.js";

/** The one sentinel observer a paged list makes, driven by hand: node has no IntersectionObserver. */
let observer;
globalThis.IntersectionObserver = class {
  constructor(callback) {
    this.callback = callback;
    this.observed = new Set();
    observer = this;
  }
  observe(target) {
    this.observed.add(target);
  }
  unobserve(target) {
    this.observed.delete(target);
  }
  disconnect() {
    this.observed.clear();
  }
  /** What the browser does when the sentinel comes near the viewport. */
  scrollNear(target) {
    if (this.observed.has(target)) this.callback([{ target, isIntersecting: true }]);
  }
};

function element() {
  const attributes = new Map();
  const listeners = [];
  return {
    hidden: false,
    disabled: false,
    textContent: "",
    childElementCount: 0,
    setAttribute: (name, value) => attributes.set(name, value),
    getAttribute: (name) => attributes.get(name),
    addEventListener: (_type, listener) => listeners.push(listener),
    click: () => listeners.forEach((listener) => listener()),
  };
}

/** Lets the awaited page and the list's bookkeeping after it run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A list over pages of ids, walked by the cursor "p<n>"; a page named in `failing` fails once. */
function setUp({ pages, failing = new Set(), pageFailed = () => "Immich is down." }) {
  const asked = [];
  const pager = createPager(async (cursor) => {
    asked.push(cursor);
    const n = cursor ? Number(cursor.slice(1)) : 0;
    if (failing.delete(n)) throw new Error("down");
    return { items: pages[n].map((id) => ({ id })), nextCursor: n + 1 < pages.length ? `p${n + 1}` : null };
  }, (x) => x.id);
  const elements = { pager, list: element(), sentinel: element(), loadMore: element(), empty: element(), errorLine: element() };
  const shown = [];
  const paging = createPagedList(elements, {
    addPage: (entries) => {
      shown.push(...entries.map((x) => x.id));
      elements.list.childElementCount = shown.length;
    },
    pageFailed,
  });
  return { ...elements, paging, asked, shown };
}

describe("a paged list", () => {
  beforeEach(() => {
    observer = null;
  });

  it("asks for nothing, and offers no button, before it is started", async () => {
    const { paging, loadMore, asked } = setUp({ pages: [["a"], ["b"]] });
    paging.refresh();
    loadMore.click();
    await settle();
    assert.deepEqual(asked, []);
    assert.equal(loadMore.hidden, true);
  });

  it("loads the first page on start and the next as the sentinel comes near", async () => {
    const { paging, sentinel, loadMore, list, shown } = setUp({ pages: [["a", "b"], ["c"]] });
    paging.start();
    assert.equal(list.getAttribute("aria-busy"), "true");
    assert.equal(loadMore.disabled, true);
    await settle();
    assert.deepEqual(shown, ["a", "b"]);
    assert.equal(loadMore.hidden, false);
    assert.equal(loadMore.textContent, "Load more");
    observer.scrollNear(sentinel);
    await settle();
    assert.deepEqual(shown, ["a", "b", "c"]);
    assert.equal(loadMore.hidden, true);
    assert.equal(list.getAttribute("aria-busy"), "false");
  });

  it("says it is empty only once the last page came back with nothing", async () => {
    const { paging, empty } = setUp({ pages: [[]] });
    paging.start();
    assert.equal(empty.hidden, true);
    await settle();
    assert.equal(empty.hidden, false);
  });

  it("watches the sentinel again after a page, since a short one leaves it in view unreported", async () => {
    const { paging, sentinel } = setUp({ pages: [["a"], ["b"]] });
    paging.start();
    observer.observed.clear();
    await settle();
    assert.equal(observer.observed.has(sentinel), true);
  });

  it("stops paging on a failure it is told to show, until the person asks again", async () => {
    const { paging, sentinel, loadMore, errorLine, empty, shown, asked } = setUp({ pages: [["a"], ["b"]], failing: new Set([1]) });
    paging.start();
    await settle();
    observer.scrollNear(sentinel);
    await settle();
    assert.equal(errorLine.hidden, false);
    assert.equal(errorLine.textContent, "Immich is down.");
    assert.equal(loadMore.textContent, "Try again");
    assert.equal(empty.hidden, true);
    observer.scrollNear(sentinel);
    await settle();
    assert.deepEqual(asked, [null, "p1"]);

    loadMore.click();
    assert.equal(errorLine.hidden, true);
    await settle();
    assert.deepEqual(shown, ["a", "b"]);
    assert.equal(loadMore.textContent, "Load more");
  });

  it("keeps paging after a failure that was taken care of elsewhere", async () => {
    const reported = [];
    const { paging, sentinel, errorLine, loadMore, asked } = setUp({
      pages: [["a"], ["b"]],
      failing: new Set([1]),
      pageFailed: (error) => {
        reported.push(error.message);
        return null;
      },
    });
    paging.start();
    await settle();
    observer.scrollNear(sentinel);
    await settle();
    assert.deepEqual(reported, ["down"]);
    assert.equal(errorLine.hidden, true);
    assert.equal(loadMore.textContent, "Load more");
    observer.scrollNear(sentinel);
    await settle();
    assert.deepEqual(asked, [null, "p1", "p1"]);
  });

  it("starts over from the first page after a reset, with the failure cleared", async () => {
    const { paging, sentinel, errorLine, loadMore, asked } = setUp({ pages: [["a"]], failing: new Set([0]) });
    paging.start();
    await settle();
    assert.equal(errorLine.hidden, false);
    paging.reset();
    assert.equal(errorLine.hidden, true);
    assert.equal(loadMore.hidden, true);
    assert.equal(observer.observed.has(sentinel), false);
    paging.start();
    await settle();
    assert.deepEqual(asked, [null, null]);
  });
});
