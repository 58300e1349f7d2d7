// @ts-check
// Events: the Event every handler receives, and the EventEmitter behind
// on/once/off.

import { invalidParameter } from './errors.js';
import { log } from './log.js';

/** Event is the object every handler receives. */
export class Event {
  constructor(type, props, cancelable) {
    Object.assign(this, props);
    this.type = type;
    this.cancelable = Boolean(cancelable);
    this.target = null;
    Object.defineProperty(this, 'prevented', { value: false, writable: true });
  }

  preventDefault() {
    if (this.cancelable) this.prevented = true;
  }

  isDefaultPrevented() {
    return this.prevented;
  }
}

/** EventEmitter gives Session, Publisher, Subscriber and OT on/once/off. */
export class EventEmitter {
  #listeners = new Map();

  on(type, handler, context) {
    return this.#add(type, handler, context, false);
  }

  once(type, handler, context) {
    return this.#add(type, handler, context, true);
  }

  off(type, handler, context) {
    if (type && typeof type === 'object') {
      for (const [t, h] of Object.entries(type)) this.off(t, h, handler);
      return this;
    }
    if (type == null) {
      this.#listeners.clear();
      return this;
    }
    for (const t of String(type).split(/\s+/).filter(Boolean)) {
      const list = this.#listeners.get(t);
      if (!list) continue;
      const keep = handler ? list.filter((l) => l.handler !== handler || (context !== undefined && l.context !== context)) : [];
      if (keep.length) this.#listeners.set(t, keep);
      else this.#listeners.delete(t);
    }
    return this;
  }

  addEventListener(type, handler, context) {
    return this.on(type, handler, context);
  }

  removeEventListener(type, handler, context) {
    return this.off(type, handler, context);
  }

  #add(type, handler, context, once) {
    if (type && typeof type === 'object') {
      for (const [t, h] of Object.entries(type)) this.#add(t, h, handler, once);
      return this;
    }
    if (typeof handler !== 'function') throw invalidParameter(`the handler of "${type}" is not a function`);
    for (const t of String(type).split(/\s+/).filter(Boolean)) {
      if (!this.#listeners.has(t)) this.#listeners.set(t, []);
      this.#listeners.get(t).push({ handler, context, once });
    }
    return this;
  }

  // hasListeners reports whether anyone listens for type.
  hasListeners(type) {
    return this.#listeners.has(type);
  }

  // emit dispatches event to the listeners of its type (and of the extra
  // names given), then runs defaultAction unless a handler prevented it.
  emit(event, defaultAction, ...names) {
    event.target = this;
    for (const name of [...names, event.type]) {
      for (const l of [...(this.#listeners.get(name) || [])]) {
        if (l.once) this.#remove(name, l);
        try {
          l.handler.call(l.context === undefined ? this : l.context, event);
        } catch (err) {
          log.error(`a handler of "${name}" threw`, err);
        }
      }
    }
    if (defaultAction && !event.isDefaultPrevented()) defaultAction();
    return event;
  }

  #remove(name, entry) {
    const list = (this.#listeners.get(name) || []).filter((l) => l !== entry);
    if (list.length) this.#listeners.set(name, list);
    else this.#listeners.delete(name);
  }
}
