'use strict';

// DemoClient: the "real client" used by the interop fixture. Its backend is an
// in-memory pub/sub table, so every behaviour is deterministic.
//
// It extends sdk-base (the event/ready base class cluster-client itself uses).
// sdk-base is resolved from cluster-client's own location, so this works
// whether or not npm hoisted it.

const path = require('path');

const Base = require(require.resolve('sdk-base', {
  paths: [ path.dirname(require.resolve('cluster-client')) ],
}));

const DEFAULT_NAME = 'DemoClient';

// Subscription key: exactly the JSON text of the registration object.
const keyOf = reg => JSON.stringify(reg);

class DemoClient extends Base {
  /**
   * @param {Object} [options]
   *  - {String} [failReady] - if set, ready fails with Error(failReady), code 'E_BROKEN'
   *  - {String} [name] - channel name this instance serves (informational)
   */
  constructor(options = {}) {
    super();
    this.name = DemoClient.channelName(options.name);
    this.notified = []; // messages received through notify()
    this._listeners = new Map(); // key -> Set<listener>
    this._values = new Map(); // key -> last published value
    this.closed = false;

    // Become ready (or fail) asynchronously, like a real client connecting somewhere.
    setImmediate(() => {
      if (options.failReady) {
        const err = new Error(options.failReady);
        err.code = 'E_BROKEN';
        this.ready(err);
      } else {
        this.ready(true);
      }
    });
  }

  /** Channel name to use for `cluster(DemoClient, { name })`; default 'DemoClient'. */
  static channelName(name) {
    return name || DEFAULT_NAME;
  }

  // ---- invoke methods (all async, so they never throw synchronously) ----

  async echo(x) {
    return x;
  }

  // NOTE: when called through cluster-client the leader appends its completion
  // callback as an extra last argument, so the array returned here contains it
  // (a function locally; `null` after serialize-json encoding for a follower).
  async echoAll(...args) {
    return args;
  }

  // Exists on the Node side only: the Rust twin does not serve it.
  async nodeOnly() {
    return 'node';
  }

  async add(a, b) {
    return a + b;
  }

  async fail(msg) {
    const err = new Error(msg);
    err.code = 'E_DEMO';
    throw err;
  }

  // ---- oneway ----

  notify(msg) {
    this.notified.push(msg);
    this._deliver({ topic: 'notify' }, msg);
  }

  // ---- pub/sub ----

  subscribe(reg, listener) {
    const key = keyOf(reg);
    if (!this._listeners.has(key)) this._listeners.set(key, new Set());
    this._listeners.get(key).add(listener);
    if (this._values.has(key)) {
      const value = this._values.get(key);
      setImmediate(() => listener(value));
    }
  }

  unSubscribe(reg, listener) {
    const key = keyOf(reg);
    const set = this._listeners.get(key);
    if (!set) return;
    if (listener) set.delete(listener);
    else set.clear();
  }

  // reg = { topic, value }: store `value` under { topic } and deliver it.
  publish(reg) {
    this._deliver({ topic: reg.topic }, reg.value);
  }

  _deliver(reg, value) {
    const key = keyOf(reg);
    this._values.set(key, value);
    for (const listener of this._listeners.get(key) || []) {
      listener(value);
    }
  }

  // Must NOT emit 'close': cluster-client re-inits the wrapper on any 'close'
  // event coming from the real client.
  async close() {
    this.closed = true;
    this._listeners.clear();
  }
}

DemoClient.DEFAULT_NAME = DEFAULT_NAME;

module.exports = DemoClient;
