// @ts-check
// OpenTok's collections: OT.sessions, OT.publishers, OT.subscribers, and a
// session's connections and streams.

/** Collection is OpenTok's list of objects with find() and where(). */
export class Collection {
  #items = new Map();
  #key;

  constructor(key) {
    this.#key = key;
  }

  get length() {
    return this.#items.size;
  }

  get(id) {
    return this.#items.get(id);
  }

  has(id) {
    return this.#items.has(id);
  }

  add(item) {
    this.#items.set(item[this.#key], item);
  }

  remove(item) {
    this.#items.delete(typeof item === 'string' ? item : item[this.#key]);
  }

  clear() {
    this.#items.clear();
  }

  forEach(fn, ctx) {
    [...this.#items.values()].forEach(fn, ctx);
  }

  map(fn, ctx) {
    return [...this.#items.values()].map(fn, ctx);
  }

  find(filter) {
    return this.where(filter)[0];
  }

  // where returns the items for which filter, a function or an object of
  // property values, matches; an id string matches that item.
  where(filter) {
    const all = [...this.#items.values()];
    if (filter == null) return all;
    if (typeof filter === 'string') return all.filter((i) => i[this.#key] === filter);
    if (typeof filter === 'function') return all.filter(filter);
    return all.filter((i) => Object.entries(filter).every(([k, v]) => i[k] === v));
  }

  [Symbol.iterator]() {
    return this.#items.values();
  }
}

export const sessions = new Collection('sessionId');
export const publishers = new Collection('id');
export const subscribers = new Collection('id');
