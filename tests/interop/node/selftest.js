'use strict';

// Self-test of worker.js: a Node leader and a Node follower on a free port.
// Usage: node selftest.js   (exit code != 0 on any failure)

const assert = require('assert');
const net = require('net');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');

const WORKER = path.join(__dirname, 'worker.js');
const results = [];
const workers = [];

// ------------------------------------------------------------ helpers

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

class Worker {
  constructor(label, args) {
    this.label = label;
    this.events = [];
    this.waiters = [];
    this.nextId = 1;
    this.stderr = '';
    this.proc = spawn(process.execPath, [ WORKER, ...args ], { stdio: [ 'pipe', 'pipe', 'pipe' ] });
    this.exited = new Promise(resolve => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stderr.on('data', d => { this.stderr += d; });
    readline.createInterface({ input: this.proc.stdout }).on('line', line => {
      if (process.env.VERBOSE) console.log(`  [${this.label}] ${line}`);
      let msg;
      try {
        msg = JSON.parse(line);
      } catch (err) {
        msg = { event: 'non_json', line };
      }
      this.events.push(msg);
      this._check();
    });
    workers.push(this);
  }

  _check() {
    this.waiters = this.waiters.filter(w => {
      const found = this.events.slice(w.from).find(w.pred);
      if (found) {
        clearTimeout(w.timer);
        w.resolve(found);
      }
      return !found;
    });
  }

  // Wait for a line matching pred, looking at lines from index `from` on.
  waitFor(pred, what, timeoutMs = 10000, from = 0) {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, from };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter(x => x !== w);
        reject(new Error(`[${this.label}] timeout waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(w);
      this._check();
    });
  }

  mark() {
    return this.events.length;
  }

  send(cmd, timeoutMs = 10000) {
    const id = this.nextId++;
    this.proc.stdin.write(JSON.stringify({ id, ...cmd }) + '\n');
    return this.waitFor(m => m.id === id, `reply to ${cmd.cmd}#${id}`, timeoutMs);
  }

  async call(cmd) {
    const reply = await this.send(cmd);
    assert.strictEqual(reply.ok, true, `${cmd.cmd} failed: ${JSON.stringify(reply)}`);
    return reply;
  }
}

async function check(name, fn) {
  try {
    const note = await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name}${note ? `  (${note})` : ''}`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${err.message}`);
  }
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

// Typed values in the worker's tagged JSON form; the default codec
// (serialize-json) must round-trip all of them exactly.
const TYPED = {
  date: { $date: 1700000000123 },
  buffer: { $buffer: '00ff10807f' },
  nested: { a: [ 1, { b: 'c', d: [ true, false, null ] } ], e: { f: { g: 'h' } }, empty: {}, list: [] },
  floats: [ 3.5, -0.25, 1e-7, 123456.789, 0.30000000000000004, 2.5e-300 ],
  special_numbers: [ { $number: 'NaN' }, { $number: 'Infinity' }, { $number: '-Infinity' } ],
  negatives: [ -1, -2, -35, -36, -1296, -9007199254740991 ],
  strings: [ 'a b', 'x|y^z%w+v', '%2B%7C%5E%25', '  ', '', 'ünïcödé 中文 😀' ],
  undef: { $undefined: true },
};

// ---------------------------------------------------------------- main

async function main() {
  const port = await freePort();
  console.log(`selftest on port ${port}`);

  const leader = new Worker('leader', [ '--port', String(port), '--role', 'leader', '--heartbeat', '1000' ]);
  await check('leader ready, isClusterClientLeader=true', async () => {
    const ev = await leader.waitFor(m => m.event === 'ready' || m.event === 'ready_error', 'leader ready');
    assert.deepStrictEqual([ ev.event, ev.leader ], [ 'ready', true ]);
  });

  const follower = new Worker('follower', [ '--port', String(port), '--role', 'auto', '--heartbeat', '1000' ]);
  await check('follower ready, isClusterClientLeader=false', async () => {
    const ev = await follower.waitFor(m => m.event === 'ready' || m.event === 'ready_error', 'follower ready');
    assert.deepStrictEqual([ ev.event, ev.leader ], [ 'ready', false ]);
  });

  await check('is_leader on follower = false', async () => {
    assert.strictEqual((await follower.call({ cmd: 'is_leader' })).result, false);
  });

  for (const [ name, value ] of Object.entries(TYPED)) {
    await check(`invoke echo round-trips ${name}`, async () => {
      const r = await follower.call({ cmd: 'invoke', method: 'echo', args: [ value ] });
      assert.deepStrictEqual(r.result, value);
    });
  }

  await check('known serialize-json quirk: huge integral doubles go via base 36 (MAX_VALUE -> Infinity)', async () => {
    const r = await follower.call({ cmd: 'invoke', method: 'echo', args: [[ 1.7976931348623157e308, 1e21 ]] });
    // 1e21 crosses serialize-json twice (arg, then result): 1e21 -> 1.0000000000000001e21 -> 1.0000000000000004e21
    assert.deepStrictEqual(r.result, [{ $number: 'Infinity' }, 1.0000000000000004e21 ]);
  });

  await check('invoke echoAll (leader appends its callback => trailing null)', async () => {
    const r = await follower.call({ cmd: 'invoke', method: 'echoAll', args: [ 1, 'two', TYPED.date ] });
    assert.deepStrictEqual(r.result, [ 1, 'two', TYPED.date, null ]);
  });

  await check('invoke add', async () => {
    assert.strictEqual((await follower.call({ cmd: 'invoke', method: 'add', args: [ 40, 2 ] })).result, 42);
  });

  await check('invoke fail -> error with code, also an error event on the leader', async () => {
    const mark = leader.mark();
    const r = await follower.send({ cmd: 'invoke', method: 'fail', args: [ 'boom here' ] });
    assert.strictEqual(r.ok, false);
    assert.deepStrictEqual(r.error, { name: 'Error', message: 'boom here', code: 'E_DEMO' });
    await leader.waitFor(m => m.event === 'error' && m.code === 'E_DEMO', 'leader error event', 3000, mark);
  });

  await check('subscribe + publish delivers typed value', async () => {
    await follower.call({ cmd: 'subscribe', reg: { topic: 'a' } });
    const mark = follower.mark();
    const value = { when: TYPED.date, raw: TYPED.buffer, n: -7, f: 0.5, s: 'x|y^z%w+v' };
    await follower.call({ cmd: 'publish', reg: { topic: 'a', value } });
    const ev = await follower.waitFor(m => m.event === 'value' && m.reg.topic === 'a', 'value on a', 5000, mark);
    assert.deepStrictEqual(ev.value, value);
  });

  await check('leader-side subscriber sees the follower publication (cached value)', async () => {
    const mark = leader.mark();
    await leader.call({ cmd: 'subscribe', reg: { topic: 'a' } });
    const ev = await leader.waitFor(m => m.event === 'value', 'value on leader', 5000, mark);
    assert.strictEqual(ev.value.n, -7);
  });

  await check('oneway notify observed via {topic:"notify"}', async () => {
    await follower.call({ cmd: 'subscribe', reg: { topic: 'notify' } });
    const mark = follower.mark();
    await follower.call({ cmd: 'oneway', method: 'notify', args: [ 'hello oneway' ] });
    const ev = await follower.waitFor(m => m.event === 'value' && m.reg.topic === 'notify', 'notify value', 5000, mark);
    assert.strictEqual(ev.value, 'hello oneway');
  });

  await check('unsubscribe stops deliveries', async () => {
    await follower.call({ cmd: 'unsubscribe', reg: { topic: 'a' } });
    const mark = follower.mark();
    await follower.call({ cmd: 'publish', reg: { topic: 'a', value: 'after-unsub' } });
    await leader.waitFor(m => m.event === 'value' && m.value === 'after-unsub', 'leader still gets it', 5000);
    await sleep(500);
    const got = follower.events.slice(mark).filter(m => m.event === 'value' && m.reg.topic === 'a');
    assert.deepStrictEqual(got, []);
  });

  await check('SIGKILL leader -> follower re-inits and becomes leader', async () => {
    const mark = follower.mark();
    const t0 = Date.now();
    leader.proc.kill('SIGKILL');
    await leader.exited;
    const ev = await follower.waitFor(m => m.event === 'reinit_ready' || m.event === 'reinit_error', 'reinit_ready', 10000, mark);
    assert.strictEqual(ev.event, 'reinit_ready');
    assert.strictEqual(ev.leader, true);
    assert.strictEqual((await follower.call({ cmd: 'is_leader' })).result, true);
    return `took ${Date.now() - t0}ms`;
  });

  await check('after failover: invoke and replayed subscription work', async () => {
    assert.strictEqual((await follower.call({ cmd: 'invoke', method: 'add', args: [ -5, 3 ] })).result, -2);
    const mark = follower.mark();
    await follower.call({ cmd: 'oneway', method: 'notify', args: [ 'after failover' ] });
    const ev = await follower.waitFor(m => m.event === 'value' && m.value === 'after failover', 'notify after failover', 5000, mark);
    assert.strictEqual(ev.reg.topic, 'notify');
  });

  await check('close replies, exit exits 0', async () => {
    await follower.call({ cmd: 'close' });
    await follower.call({ cmd: 'exit' });
    const { code } = await follower.exited;
    assert.strictEqual(code, 0);
  });

  // ---- extra flag coverage: json codec, fail-ready
  const port2 = await freePort();
  const jl = new Worker('json-leader', [ '--port', String(port2), '--codec', 'json', '--name', 'JsonChannel' ]);
  const jf = new Worker('json-follower', [ '--port', String(port2), '--codec', 'json', '--name', 'JsonChannel', '--role', 'follower' ]);
  await check('--codec json --name: echo via follower (Date -> string, Buffer -> {type,data})', async () => {
    await jl.waitFor(m => m.event === 'ready' && m.leader === true, 'json leader ready');
    await jf.waitFor(m => m.event === 'ready' && m.leader === false, 'json follower ready');
    const r = await jf.call({ cmd: 'invoke', method: 'echo', args: [{ a: [ 1, 'b' ], d: TYPED.date, buf: { $buffer: '0102' } }] });
    assert.deepStrictEqual(r.result, { a: [ 1, 'b' ], d: '2023-11-14T22:13:20.123Z', buf: { type: 'Buffer', data: [ 1, 2 ] } });
  });

  const port3 = await freePort();
  const bl = new Worker('broken-leader', [ '--port', String(port3), '--role', 'leader', '--fail-ready', 'backend down' ]);
  const bf = new Worker('broken-follower', [ '--port', String(port3), '--role', 'follower' ]);
  await check('--fail-ready: leader and follower report ready_error with code E_BROKEN', async () => {
    const a = await bl.waitFor(m => m.event === 'ready' || m.event === 'ready_error', 'broken leader');
    const b = await bf.waitFor(m => m.event === 'ready' || m.event === 'ready_error', 'broken follower');
    assert.deepStrictEqual(a, { event: 'ready_error', name: 'Error', message: 'backend down', code: 'E_BROKEN' });
    assert.deepStrictEqual(b, { event: 'ready_error', name: 'Error', message: 'backend down', code: 'E_BROKEN' });
  });
}

main()
  .catch(err => {
    results.push({ name: 'selftest crashed', ok: false });
    console.log(`FAIL selftest crashed: ${err.stack}`);
  })
  .then(() => {
    for (const w of workers) {
      if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
    }
    const failed = results.filter(r => !r.ok);
    console.log(`\n${results.length - failed.length}/${results.length} checks passed`);
    if (failed.length) {
      for (const w of workers) {
        if (w.stderr.trim()) console.log(`--- stderr of ${w.label}:\n${w.stderr.trim()}`);
      }
    }
    process.exit(failed.length ? 1 : 0);
  });
