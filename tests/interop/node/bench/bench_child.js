'use strict';

// The Node side of `cargo run --profile perf --example bench -- SCENARIO --vs-node`: one child
// process of the benchmark, driven like the Rust children (examples/bench/child.rs) with the
// same flags, JSON-line commands and events, payloads, histogram buckets and clock.
//
//   node bench_child.js --child leader|follower|member|keys-member|echo-server|echo-client
//        --port N --codec serialize-json|json --payload 16|4096|65536|1048576 --depth D
//        [--index I]
//
// Prints {"event":"ready",...} once ready, then answers commands on stdin; exits when stdin
// closes or on {"cmd":"exit"}. See README.md beside this file.

const net = require('net');
const path = require('path');
const readline = require('readline');
const cluster = require('cluster-client');

const ccDir = path.dirname(require.resolve('cluster-client'));
const Base = require(require.resolve('sdk-base', { paths: [ ccDir ] }));
const serializeJson = require(require.resolve('serialize-json', { paths: [ ccDir ] }));

// ------------------------------------------------------------------ common

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');
const mono = () => Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, as in the Rust children
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function flags(argv) {
  const f = {};
  for (let i = 0; i < argv.length; i += 2) f[argv[i].replace(/^--/, '')] = argv[i + 1];
  return f;
}

const F = flags(process.argv.slice(2));
const role = F.child;
const port = Number(F.port);
const depth = Math.max(1, Number(F.depth || 1));
const payloadBytes = Number(F.payload || 16);
const bigPayload = payloadBytes > 16;
const memberIndex = Number(F.index || 0);
const jsonCodec = F.codec === 'json';

// Histogram: exact below 128 ns, then 64 buckets per power of two (same indices as Rust).
function hidx(ns) {
  ns = Math.max(0, Math.floor(ns));
  if (ns < 128) return ns;
  let e = Math.floor(Math.log2(ns));
  while (2 ** e > ns) e--;
  while (2 ** (e + 1) <= ns) e++;
  const m = Math.floor(ns / 2 ** (e - 6));
  return 128 + (e - 7) * 64 + (m - 64);
}
class Hist {
  constructor() { this.counts = new Map(); this.n = 0; }
  record(ns) { const i = hidx(ns); this.counts.set(i, (this.counts.get(i) || 0) + 1); this.n++; }
  merge(o) { for (const [ i, c ] of o.counts) this.counts.set(i, (this.counts.get(i) || 0) + c); this.n += o.n; }
  toJSON() { return [ ...this.counts ].sort((a, b) => a[0] - b[0]); }
}

// The object payload: built exactly as common.rs `big()` does; 38 items per 4,096 bytes asked
// (the 4096 object is 4,0xx bytes of plain JSON), as `big_items()`.
const BIG_ITEMS = 38;
const bigItems = bytes => Math.max(1, Math.floor(bytes * BIG_ITEMS / 4096));
function big(n) {
  const items = [];
  for (let i = 0; i < n; i++) {
    items.push({
      id: i,
      name: `item-${i}`,
      host: `10.0.${i}.${(i * 7) % 256}`,
      port: 8000 + i,
      weight: i * 0.25,
      labels: { zone: `z${i % 3}`, tier: 'backend' },
    });
  }
  return { kind: 'bench', version: 1, owner: { name: 'cluster-client', region: 'loopback', id: 42 }, items };
}
const payload = bigPayload ? big(bigItems(payloadBytes)) : 'x'.repeat(16);

const jsonTranscode = {
  encode: v => Buffer.from(JSON.stringify(v)),
  decode: b => JSON.parse(b),
};
const transcode = jsonCodec ? jsonTranscode : serializeJson;

const quiet = { debug() {}, info() {}, warn() {}, error: e => process.stderr.write(`[error] ${e && e.message || e}\n`) };

// ------------------------------------------------------------ real client

let realClient = null; // the leader's BenchClient, when this process leads

class BenchClient extends Base {
  constructor(options = {}) {
    super();
    realClient = this;
    out({ event: 'leader', t: mono(), pid: process.pid });
    this._subs = new Set();
    this._keys = new Map(); // keys scenario: key -> { v: version, l: listener }
    if (options.ticker) {
      let s = 0;
      this.timer = setInterval(() => this.deliver({ p: process.pid, s: s++ }), 1);
    }
    setImmediate(() => this.ready(true));
  }

  async echo(x) {
    return x;
  }

  subscribe(reg, listener) {
    if (role === 'keys-member') {
      const e = this._keys.get(reg.key) || { v: 0, l: null };
      e.l = listener;
      this._keys.set(reg.key, e);
      process.nextTick(() => listener({ p: process.pid, s: e.v, t: mono(), c: 0, d: payload }));
      return;
    }
    this._subs.add(listener);
  }

  // keys scenario: a new version of `key`, pushed to its subscriber.
  change(key) {
    const e = this._keys.get(key);
    if (!e || !e.l) return false;
    e.v++;
    e.l({ p: process.pid, s: e.v, t: mono(), c: 1, d: payload });
    return true;
  }

  unSubscribe(reg, listener) {
    if (listener) this._subs.delete(listener);
    else this._subs.clear();
  }

  deliver(value) {
    for (const l of this._subs) l(value);
  }

  async close() {
    if (this.timer) clearInterval(this.timer);
    this._subs.clear();
  }
}

// ----------------------------------------------------------------- roles

let client;

async function createClient() {
  const options = { port, name: 'BenchClient', logger: quiet };
  if (role === 'leader') options.isLeader = true;
  if (role === 'follower') options.isLeader = false;
  if (jsonCodec) options.transcode = jsonTranscode;
  client = cluster(BenchClient, options)
    .delegate('echo')
    .delegate('subscribe', 'subscribe')
    .delegate('unSubscribe', 'unSubscribe')
    .delegate('close', 'close')
    .create({ ticker: role === 'member' });
  client.on('error', err => process.stderr.write(`[client error] ${err.message}\n`));
  await client.ready();
  out({ event: 'ready', pid: process.pid, leader: !!client.isClusterClientLeader, t: mono() });
}

async function runInvoke(cmd) {
  const warmEnd = mono() + cmd.warmup_ms * 1e6;
  const end = warmEnd + cmd.ms * 1e6;
  const hist = new Hist();
  let errors = 0;
  await Promise.all(Array.from({ length: depth }, async () => {
    for (;;) {
      const t0 = mono();
      if (t0 >= end) break;
      try {
        await client.echo(payload);
        if (t0 >= warmEnd) hist.record(mono() - t0);
      } catch (err) {
        errors++;
      }
    }
  }));
  out({ event: 'result', ops: hist.n, errors, secs: cmd.ms / 1000, hist });
}

// Fanout, follower side: per-phase counters of the `fan` subscription.
const phases = new Map();
function phase(p) {
  if (!phases.has(p)) phases.set(p, { count: 0, next: 0, gaps: 0, hist: new Hist(), lat: [] });
  return phases.get(p);
}

function subscribeFan() {
  let primed = false;
  client.subscribe({ topic: 'fan' }, v => {
    const lat = mono() - v.t;
    const st = phase(v.p);
    if (v.s !== st.next) st.gaps++;
    st.next = v.s + 1;
    st.count++;
    st.hist.record(lat);
    if (v.p === 1) st.lat.push([ v.s, lat ]);
    if (!primed) {
      primed = true;
      out({ event: 'primed' });
    }
  });
}

async function report(cmd) {
  const until = Date.now() + (cmd.wait_ms || 0);
  while (phase(cmd.phase).count < cmd.expect && Date.now() < until) await sleep(2);
  const st = phase(cmd.phase);
  out({ event: 'report', phase: cmd.phase, count: st.count, gaps: st.gaps, hist: st.hist, lat: st.lat });
}

// Fanout, leader side: emit values at a paced rate through the real client.
async function emitPaced(cmd) {
  const total = Math.floor(cmd.rate * cmd.ms / 1000);
  const start = mono();
  let n = 0;
  while (n < total) {
    const due = Math.min(total, Math.floor(cmd.rate * (mono() - start) / 1e9));
    while (n < due) {
      realClient.deliver({ p: cmd.phase, s: n, t: mono(), d: payload });
      n++;
    }
    if (n < total) await sleep(1);
  }
  out({ event: 'emitted', phase: cmd.phase, count: n, secs: (mono() - start) / 1e9 });
}

// Failover member: calls echo every millisecond and watches the tick subscription.
const log = { ok: [], err: [], inflight: new Map(), firstByPid: new Map() };
function startMember() {
  client.subscribe({ topic: 'tick' }, v => {
    if (log.firstByPid.size === 0) out({ event: 'sub_ok' });
    if (!log.firstByPid.has(v.p)) log.firstByPid.set(v.p, mono());
  });
  let id = 0;
  let announced = false;
  const stop = Date.now() + 600000; // bounded: ten minutes of calls at most
  (async () => {
    while (Date.now() < stop) {
      const my = id++;
      const t0 = mono();
      log.inflight.set(my, t0);
      try {
        await client.echo('x'.repeat(16));
        log.ok.push([ t0, mono() ]);
        if (!announced) {
          announced = true;
          out({ event: 'call_ok' });
        }
      } catch (err) {
        log.err.push([ t0, mono() ]);
      }
      log.inflight.delete(my);
      await sleep(1);
    }
  })();
}

function memberReport(cmd) {
  const t0 = cmd.t0;
  const hungNs = (cmd.hung_ms || 4000) * 1e6;
  const now = mono();
  let call = null;
  for (const [ s, e ] of log.ok) if (s >= t0 && (call === null || e < call)) call = e;
  let sub = null;
  for (const [ p, t ] of log.firstByPid) if (p !== cmd.dead && t >= t0 && (sub === null || t < sub)) sub = t;
  const errors = log.err.filter(([ , e ]) => e >= t0).length;
  const slow = log.ok.concat(log.err).filter(([ s, e ]) => e >= t0 && e - s > hungNs).length;
  let oldest = 0;
  let stuck = 0;
  for (const s of log.inflight.values()) {
    oldest = Math.max(oldest, now - s);
    if (now - s > hungNs) stuck++;
  }
  out({ event: 'report', call_t: call, sub_t: sub, errors, hung: slow + stuck, inflight_oldest_ns: oldest, leader: !!client.isClusterClientLeader });
}

// Keys member: K subscriptions k/<index>/<i>; per key, the pid of the latest value's leader and
// when its first value arrived.
const seen = { pid: [], since: [], delivered: 0 };
function keysSubscribe(cmd) {
  const k = cmd.k;
  seen.pid = new Array(k).fill(0);
  seen.since = new Array(k).fill(0);
  seen.delivered = 0;
  for (let i = 0; i < k; i++) {
    client.subscribe({ key: `k/${memberIndex}/${i}` }, v => {
      const now = mono();
      if (seen.pid[i] === 0 && ++seen.delivered === k) out({ event: 'subscribed', t: now });
      if (seen.pid[i] !== v.p) {
        seen.pid[i] = v.p;
        seen.since[i] = now;
      }
      if (v.c === 1) out({ event: 'changed', i, s: v.s, lat_ns: now - v.t });
    });
  }
}

function keysReport(cmd) {
  let missing = 0;
  let done = 0;
  for (let i = 0; i < seen.pid.length; i++) {
    const p = seen.pid[i];
    if (p === 0 || p === cmd.dead || seen.since[i] < cmd.t0) missing++;
    else done = Math.max(done, seen.since[i]);
  }
  out({ event: 'keys_report', missing, done_t: missing === 0 ? done : null, leader: !!client.isClusterClientLeader });
}

function keysChange(cmd) {
  if (!realClient || !realClient.change(cmd.key)) out({ event: 'error', message: `change ${cmd.key}: no subscription to it here` });
}

// ------------------------------------------------------- raw echo (floor)

const HEADER = 24;
function frame(kind, id, timeout, conn, app) {
  const c = Buffer.from(conn);
  const h = Buffer.alloc(HEADER);
  h.writeUInt8(1, 0);
  h.writeUInt8(kind, 1);
  h.writeBigInt64BE(id, 4);
  h.writeInt32BE(timeout, 12);
  h.writeInt32BE(c.length, 16);
  h.writeInt32BE(app.length, 20);
  return Buffer.concat([ h, c, app ]);
}

// Splits complete frames off `state.buf`, calling fn(id, app) for each.
function frames(state, data, fn) {
  state.buf = state.buf.length ? Buffer.concat([ state.buf, data ]) : data;
  while (state.buf.length >= HEADER) {
    const total = HEADER + state.buf.readInt32BE(16) + state.buf.readInt32BE(20);
    if (state.buf.length < total) break;
    const id = state.buf.readBigInt64BE(4);
    const app = state.buf.subarray(HEADER + state.buf.readInt32BE(16), total);
    fn(id, app);
    state.buf = state.buf.subarray(total);
  }
}

function echoServer() {
  const conn = '{"type":"invoke_result","success":true}';
  const server = net.createServer(sock => {
    sock.setNoDelay(true);
    const state = { buf: Buffer.alloc(0) };
    sock.on('data', data => {
      const outs = [];
      frames(state, data, (id, app) => outs.push(frame(1, id, 0, conn, app)));
      if (outs.length) sock.write(outs.length === 1 ? outs[0] : Buffer.concat(outs));
    });
    sock.on('error', () => {});
  });
  server.listen(port, '127.0.0.1', () => out({ event: 'ready', pid: process.pid, leader: true, t: mono() }));
}

let echoSock;
function echoClient() {
  echoSock = net.connect(port, '127.0.0.1', () => {
    echoSock.setNoDelay(true);
    out({ event: 'ready', pid: process.pid, leader: false, t: mono() });
  });
}

function echoRun(cmd) {
  const enc = transcode.encode(payload);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(enc.length, 0);
  const args = Buffer.concat([ len, enc ]);
  const conn = '{"type":"invoke","method":"echo","argLength":1,"oneway":false}';
  const warmEnd = mono() + cmd.warmup_ms * 1e6;
  const end = warmEnd + cmd.ms * 1e6;
  const hist = new Hist();
  const started = [];
  let head = 0;
  let nextId = 1n;
  const state = { buf: Buffer.alloc(0) };
  const send = outs => {
    outs.push(frame(0, nextId++, 3000, conn, args));
    started.push(mono());
  };
  return new Promise(resolve => {
    const onData = data => {
      const outs = [];
      const now = mono();
      frames(state, data, () => {
        const t0 = started[head++];
        if (t0 >= warmEnd) hist.record(now - t0);
        if (now < end) send(outs);
      });
      if (outs.length) echoSock.write(Buffer.concat(outs));
      if (head === started.length) {
        echoSock.off('data', onData);
        out({ event: 'result', ops: hist.n, errors: 0, secs: cmd.ms / 1000, hist });
        resolve();
      }
    };
    echoSock.on('data', onData);
    const outs = [];
    for (let i = 0; i < depth; i++) send(outs);
    echoSock.write(Buffer.concat(outs));
  });
}

// ------------------------------------------------------------------ main

async function onCommand(cmd) {
  switch (cmd.cmd) {
    case 'run': return role === 'echo-client' ? echoRun(cmd) : runInvoke(cmd);
    case 'subscribe': return role === 'keys-member' ? keysSubscribe(cmd) : subscribeFan();
    case 'change': return keysChange(cmd);
    case 'report':
      if (role === 'keys-member') return keysReport(cmd);
      return role === 'member' ? memberReport(cmd) : report(cmd);
    case 'emit': return emitPaced(cmd);
    case 'exit': return process.stdout.write('', () => process.exit(0));
    default: return undefined;
  }
}

async function main() {
  if (role === 'echo-server') echoServer();
  else if (role === 'echo-client') echoClient();
  else {
    await createClient();
    if (role === 'member') startMember();
  }
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', line => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (err) {
      return;
    }
    Promise.resolve().then(() => onCommand(cmd)).catch(err => out({ event: 'error', message: String(err && err.stack || err) }));
  });
  rl.on('close', () => process.exit(0));
}

main().catch(err => {
  out({ event: 'ready_error', message: String(err && err.stack || err) });
  process.exit(1);
});
