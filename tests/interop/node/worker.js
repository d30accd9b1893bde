'use strict';

// One cluster-client participant, driven by JSON lines on stdin and reporting
// JSON lines on stdout. See README.md for the protocol.

const readline = require('readline');
const util = require('util');
const cluster = require('cluster-client');
const DemoClient = require('./demo_client');

// ---------------------------------------------------------------- output

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// ------------------------------------------------- tagged value encoding

// JS value -> JSON-safe value (tags for what JSON cannot carry).
function toWire(v) {
  if (v === undefined) return { $undefined: true };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
  if (typeof v === 'function') return { $function: true };
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (v === null || typeof v !== 'object') return v;
  if (Buffer.isBuffer(v)) return { $buffer: v.toString('hex') };
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof Error) return { $error: errorInfo(v) };
  if (Array.isArray(v)) return v.map(toWire);
  const o = {};
  for (const k of Object.keys(v)) o[k] = toWire(v[k]);
  return o;
}

// JSON value -> JS value (inverse of toWire).
function fromWire(v) {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(fromWire);
  const keys = Object.keys(v);
  if (keys.length === 1) {
    switch (keys[0]) {
      case '$undefined': return undefined;
      case '$date': return new Date(v.$date);
      case '$buffer': return Buffer.from(v.$buffer, 'hex');
      case '$number': return Number(v.$number);
      default: break;
    }
  }
  const o = {};
  for (const k of keys) o[k] = fromWire(v[k]);
  return o;
}

// name, message, code, and the first line of the stack (null when there is none).
function errorInfo(err) {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), code: null, stack_head: null };
  const head = typeof err.stack === 'string' && err.stack.length > 0 ? err.stack.split('\n')[0] : null;
  return { name: err.name, message: err.message, code: err.code === undefined ? null : err.code, stack_head: head };
}

// ---------------------------------------------------------------- flags

const KNOWN_FLAGS = [
  'port', 'role', 'name', 'codec', 'broadcast', 'fail-ready', 'heartbeat', 'response-timeout',
  'max-wait-time', 'subscribe-timeout', 'check-heartbeat',
];

function parseArgs(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !KNOWN_FLAGS.includes(m[1])) throw new Error(`unexpected argument: ${argv[i]}`);
    if (m[2] === undefined && i + 1 >= argv.length) throw new Error(`--${m[1]} needs a value`);
    flags[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
  }
  return flags;
}

function num(flags, name) {
  if (flags[name] === undefined) return undefined;
  const n = Number(flags[name]);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number`);
  return n;
}

function bool(flags, name) {
  if (flags[name] === undefined) return undefined;
  if (flags[name] !== 'true' && flags[name] !== 'false') throw new Error(`--${name} must be true|false`);
  return flags[name] === 'true';
}

const jsonTranscode = {
  encode: v => Buffer.from(JSON.stringify(v)),
  decode: b => JSON.parse(b),
};

function buildOptions(flags) {
  const port = num(flags, 'port');
  if (port === undefined) throw new Error('--port is required');
  const options = {
    port,
    name: DemoClient.channelName(flags.name),
    logger: makeLogger(),
  };
  const role = flags.role || 'auto';
  if (role === 'leader') options.isLeader = true;
  else if (role === 'follower') options.isLeader = false;
  else if (role !== 'auto') throw new Error('--role must be auto|leader|follower');

  const codec = flags.codec || 'default';
  if (codec === 'json') options.transcode = jsonTranscode;
  else if (codec !== 'default') throw new Error('--codec must be default|json');

  const optional = {
    isBroadcast: bool(flags, 'broadcast'),
    heartbeatInterval: num(flags, 'heartbeat'),
    responseTimeout: num(flags, 'response-timeout'),
    maxWaitTime: num(flags, 'max-wait-time'),
    subscribeTimeout: num(flags, 'subscribe-timeout'),
    isCheckHeartbeat: bool(flags, 'check-heartbeat'),
  };
  for (const k of Object.keys(optional)) {
    if (optional[k] !== undefined) options[k] = optional[k];
  }
  return options;
}

// -------------------------------------------------------------- logger

let client; // the cluster-client wrapper

// cluster-client's default logger writes to stdout; replace it so stdout stays
// pure JSON lines. warn/error become "log" events; the re-init warning also
// produces a "reinit" event followed by "reinit_ready" / "reinit_error".
function makeLogger() {
  const log = level => (...args) => {
    const message = args[0] instanceof Error ? `${args[0].name}: ${args[0].message}` : util.format(...args);
    if (level === 'info' || level === 'debug') {
      process.stderr.write(`[${level}] ${message}\n`);
      return;
    }
    out({ event: 'log', level, message });
    const m = /closed, and try to init it again/.test(message) && /\] (leader|follower) closed/.exec(message);
    if (m) onReinit(m[1]);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

function onReinit(was) {
  out({ event: 'reinit', was });
  // The wrapper marks itself not-ready right after logging; wait a tick, then
  // wait for the re-initialised inner client.
  process.nextTick(() => {
    client.ready().then(
      () => out({ event: 'reinit_ready', leader: !!client.isClusterClientLeader }),
      err => out({ event: 'reinit_error', ...errorInfo(err) })
    );
  });
}

// ------------------------------------------------------------ commands

const subscriptions = new Map(); // JSON key of reg -> [{ reg, listener }]

async function handle(cmd) {
  switch (cmd.cmd) {
    case 'invoke': {
      const fn = client[cmd.method];
      if (typeof fn !== 'function') throw new Error(`no such method: ${cmd.method}`);
      const result = await fn(...(cmd.args || []).map(fromWire));
      return { result: toWire(result) };
    }
    case 'oneway': {
      const fn = client[cmd.method];
      if (typeof fn !== 'function') throw new Error(`no such method: ${cmd.method}`);
      const ret = fn(...(cmd.args || []).map(fromWire));
      if (ret && typeof ret.then === 'function') ret.catch(() => {});
      return {};
    }
    case 'subscribe': {
      const reg = fromWire(cmd.reg);
      const sub = cmd.id;
      const listener = value => out({ event: 'value', reg: cmd.reg, value: toWire(value), sub });
      const key = JSON.stringify(cmd.reg);
      if (!subscriptions.has(key)) subscriptions.set(key, []);
      subscriptions.get(key).push({ reg, listener });
      client.subscribe(reg, listener);
      return {};
    }
    case 'unsubscribe': {
      const key = JSON.stringify(cmd.reg);
      for (const { reg, listener } of subscriptions.get(key) || []) {
        client.unSubscribe(reg, listener);
      }
      subscriptions.delete(key);
      return {};
    }
    case 'publish':
      client.publish(fromWire(cmd.reg));
      return {};
    case 'is_leader':
      return { result: !!client.isClusterClientLeader };
    case 'close':
      await client.close();
      return {};
    case 'exit':
      out({ id: cmd.id, ok: true });
      process.stdout.write('', () => process.exit(0));
      return null;
    default:
      throw new Error(`unknown cmd: ${cmd.cmd}`);
  }
}

function onLine(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    out({ event: 'bad_command', message: err.message, line });
    return;
  }
  Promise.resolve()
    .then(() => handle(cmd))
    .then(
      reply => { if (reply) out({ id: cmd.id, ok: true, ...reply }); },
      err => out({ id: cmd.id, ok: false, error: errorInfo(err) })
    );
}

// ---------------------------------------------------------------- main

function main() {
  let flags;
  let options;
  try {
    flags = parseArgs(process.argv.slice(2));
    options = buildOptions(flags);
  } catch (err) {
    out({ event: 'usage_error', message: err.message });
    process.exit(2);
  }

  process.on('unhandledRejection', err => out({ event: 'unhandled_rejection', ...errorInfo(err) }));
  process.on('uncaughtException', err => {
    // Node's cluster-client lets e.g. a missing method crash the leader; keep that, but report it.
    out({ event: 'fatal', ...errorInfo(err) });
    process.stdout.write('', () => process.exit(1));
  });

  client = cluster(DemoClient, options)
    .delegate('echo')
    .delegate('echoAll')
    .delegate('nodeOnly')
    .delegate('add')
    .delegate('fail')
    .delegate('notify', 'invokeOneway')
    .delegate('subscribe', 'subscribe')
    .delegate('publish', 'publish')
    .delegate('unSubscribe', 'unSubscribe')
    .delegate('close', 'close')
    .create({ failReady: flags['fail-ready'], name: options.name });

  client.on('error', err => out({ event: 'error', ...errorInfo(err) }));

  client.ready().then(
    () => out({ event: 'ready', leader: !!client.isClusterClientLeader, pid: process.pid }),
    err => out({ event: 'ready_error', ...errorInfo(err) })
  );

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', onLine);
  // The driver went away: do not linger as an orphan.
  rl.on('close', () => process.stdout.write('', () => process.exit(0)));
}

main();
