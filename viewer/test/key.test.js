import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STORAGE_KEY, createKeyStore, parseKeyFragment, takeKeyFromLocation } from "../src/key.js";

function memoryStorage() {
  const data = new Map();
  return {
    data,
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => data.set(k, String(v)),
    removeItem: (k) => data.delete(k),
  };
}

function fakeHistory() {
  return { state: null, urls: [], replaceState(_s, _u, url) { this.urls.push(url); } };
}

describe("the API key in the URL fragment", () => {
  it("is read from #key=KEY", () => {
    assert.deepEqual(parseKeyFragment("#key=abc123"), { found: true, key: "abc123", rest: "" });
  });

  it("keeps the other fragment parameters", () => {
    assert.deepEqual(parseKeyFragment("#key=abc&tab=import"), { found: true, key: "abc", rest: "#tab=import" });
  });

  it("is percent-decoded", () => {
    assert.equal(parseKeyFragment("#key=a%2Bb%3D").key, "a+b=");
  });

  it("is absent from a fragment that names no key", () => {
    assert.deepEqual(parseKeyFragment("#tab=import"), { found: false, key: null, rest: "#tab=import" });
    assert.deepEqual(parseKeyFragment(""), { found: false, key: null, rest: "" });
  });

  it("counts as absent when empty, though the fragment still names it", () => {
    assert.deepEqual(parseKeyFragment("#key="), { found: true, key: null, rest: "" });
  });
});

describe("taking the key from the address bar", () => {
  it("stores the key and removes it from the address, keeping path and query", () => {
    const storage = memoryStorage();
    const history = fakeHistory();
    const taken = takeKeyFromLocation(
      { pathname: "/v1/viewer/", search: "?x=1", hash: "#key=s3cret" },
      history,
      createKeyStore(storage),
    );
    assert.equal(taken, true);
    assert.equal(storage.data.get(STORAGE_KEY), "s3cret");
    assert.deepEqual(history.urls, ["/v1/viewer/?x=1"]);
  });

  it("leaves the address alone when there is no key in it", () => {
    const history = fakeHistory();
    assert.equal(takeKeyFromLocation({ pathname: "/viewer/", search: "", hash: "#other" }, history, createKeyStore(memoryStorage())), false);
    assert.deepEqual(history.urls, []);
  });

  it("still cleans an empty #key= out of the address", () => {
    const history = fakeHistory();
    assert.equal(takeKeyFromLocation({ pathname: "/viewer/", search: "", hash: "#key=" }, history, createKeyStore(memoryStorage())), false);
    assert.deepEqual(history.urls, ["/viewer/"]);
  });
});

describe("the key store", () => {
  it("keeps the key in the given storage and forgets it on clear", () => {
    const storage = memoryStorage();
    const store = createKeyStore(storage);
    assert.equal(store.get(), null);
    store.set("k1");
    assert.equal(store.get(), "k1");
    assert.equal(createKeyStore(storage).get(), "k1", "another page of the same tab reads it");
    store.clear();
    assert.equal(store.get(), null);
  });

  it("falls back to memory where storage throws (blocked storage)", () => {
    const throwing = {
      getItem() { throw new Error("SecurityError"); },
      setItem() { throw new Error("SecurityError"); },
      removeItem() { throw new Error("SecurityError"); },
    };
    const store = createKeyStore(throwing);
    store.set("k2");
    assert.equal(store.get(), "k2");
    store.clear();
    assert.equal(store.get(), null);
  });

  it("works without any storage", () => {
    const store = createKeyStore(null);
    store.set("k3");
    assert.equal(store.get(), "k3");
  });
});
