'use strict';
/*
 * The load generator: plays jambonz against one server under test.
 *
 * Written with Node's `ws` (the library jambonz's feature-server uses) so the client is never
 * the bottleneck. Every loop is bounded in count and in time; on any deadline the sockets are
 * terminated and the run reports what it measured. Prints one JSON object on stdout.
 *
 *   node loadgen.js --url ws://127.0.0.1:PORT/bench --case hooks --calls 100 \
 *        --warmup 1 --duration 5 [--server-pid PID]
 *
 * --server-pid: the server's CPU time and RSS are read from /proc, summed over PID and its live
 * descendants (a multi-process server's workers); `server_processes` says how many there were.
 *
 * Cases:
 *   hooks  open --calls calls (session:new -> ack), then every call loops verb:hook -> ack as
 *          fast as acks come back; after --hooks-per-call round trips (K, default 1000; 0 =
 *          never) a call sends call:status completed, closes, and a new call takes its slot.
 *          Round trips/s, ack latency p50/p99 and the server's CPU seconds are measured over
 *          --duration after --warmup.
 *   setup  --concurrency workers each loop: connect, session:new, ack, call:status, close.
 *          Set-ups/s (connect to ack) over --duration after --warmup.
 *   idle   server RSS before, then --calls calls opened and left idle (acked session:new);
 *          peak RSS while they are open; KiB per idle call.
 *   tts    --calls calls are set up, then each sends a gather verb:hook at once; the server
 *          acks it with a streaming say and pumps the 300-delta answer with tts:tokens; this
 *          side plays jambonz's TTS buffer (results, high-water 1000 chars, drained at sentence
 *          boundaries). Messages per call (app -> jambonz) and time from hook to last token.
 */

const fs = require('fs');
const WebSocket = require('ws');
const m = require('./messages');

const SUBPROTOCOL = 'ws.jambonz.org';
const ACK_TIMEOUT_MS = 5000; // jambonz's JAMBONES_WS_MSG_RESPONSE_TIMEOUT
// session:new acks may take longer here: set-ups are measured for throughput (with their
// latency reported), and @jambonz/sdk spends 100+ ms of CPU per set-up, so a burst of set-ups
// queues for seconds. Still bounded.
const SETUP_ACK_TIMEOUT_MS = 30000;

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const args = {
    url: null, case: 'hooks', calls: 100, concurrency: 32, warmup: 1, duration: 5,
    setupTimeout: 60, setupConcurrency: 200, serverPid: 0, maxHooksPerCall: 10000000,
    hooksPerCall: 1000,
    ttsChars: m.ttsChars(), settle: 2,
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`);
    const value = argv[i + 1];
    args[key] = typeof args[key] === 'number' ? Number(value) : value;
  }
  if (!args.url) throw new Error('--url is required');
  return args;
}

// ---------------------------------------------------------------- helpers

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function latencySummary(samples) {
  const sorted = Float64Array.from(samples).sort();
  const r = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  return { p50_ms: r(quantile(sorted, 0.5)), p99_ms: r(quantile(sorted, 0.99)),
    max_ms: r(sorted.length ? sorted[sorted.length - 1] : null), samples: sorted.length };
}

const CLK_TCK = 100; // Linux USER_HZ

/*
 * The server's processes: PID and its live descendants (a `jbtrio serve --workers N` acceptor
 * and its workers), from /proc/PID/task/TID/children, recursively. A process that exits while
 * the tree is read is skipped.
 */
function processTree(pid) {
  const pids = [];
  const visit = (p) => {
    pids.push(p);
    let tasks;
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch (err) {
      return; // exited
    }
    for (const tid of tasks) {
      let children;
      try {
        children = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch (err) {
        continue; // the thread (or the process) exited
      }
      for (const child of children.split(' ')) if (child) visit(Number(child));
    }
  };
  visit(pid);
  return pids;
}

function readOr(path, fallback) {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    return fallback;
  }
}

/*
 * The server's CPU seconds (user + system) from /proc, summed over the server process and its
 * live descendants, and how many processes that is; null when no pid was given. For a
 * single-process server this is exactly that process's utime + stime.
 *
 * Only live processes count, and that is accepted: a descendant that exits between the two
 * readings of a window is missing from the second one, so the window is short by that
 * process's whole CPU time (its reaped time lands in its parent's cutime, which is not read);
 * one started within the window counts its whole life. `jbtrio serve --workers N` starts its
 * workers before it listens and keeps them (it replaces only dead ones), so neither happens in
 * a normal run; `server_processes` in the result shows how many processes were counted.
 */
function serverCpu(pid) {
  if (!pid) return null;
  let seconds = 0;
  let processes = 0;
  for (const p of processTree(pid)) {
    const stat = readOr(`/proc/${p}/stat`, null);
    if (stat === null) {
      if (p === pid) throw new Error(`server process ${pid} is gone`);
      continue; // exited since the tree was read
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    seconds += (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
    processes++;
  }
  return { seconds, processes };
}

/*
 * The server's resident set and high-water mark in bytes, summed over the server process and
 * its live descendants (the sum of the high-water marks is an upper bound for a tree: each
 * process peaks at its own time).
 */
function serverRss(pid) {
  if (!pid) return { rss: null, hwm: null, processes: null };
  let rss = 0;
  let hwm = 0;
  let processes = 0;
  for (const p of processTree(pid)) {
    const status = readOr(`/proc/${p}/status`, null);
    if (status === null) {
      if (p === pid) throw new Error(`server process ${pid} is gone`);
      continue;
    }
    const kib = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [0, 0])[1]);
    rss += kib('VmRSS') * 1024;
    hwm += kib('VmHWM') * 1024;
    processes++;
  }
  return { rss, hwm, processes };
}

/* CPU seconds between two serverCpu readings, or null. */
function cpuDelta(a, b) {
  return a === null || b === null ? null : b.seconds - a.seconds;
}

// ---------------------------------------------------------------- one simulated call

/*
 * A call: one socket, jambonz's side of it. `onFrame(call, msg)` sees every frame after the
 * session:new ack. Resolves `ready` with the ack latency, or rejects.
 */
class SimCall {
  constructor(url, stats) {
    this.sid = m.newCallSid();
    this.hookFrame = m.hookTemplate(this.sid);
    this.stats = stats;
    this.pending = null; // { msgid, sentAt, resolve, reject, timer }
    this.onFrame = null;
    this.closed = false;
    this.ws = new WebSocket(url, SUBPROTOCOL, { perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.ws.on('error', () => { stats.socketErrors++; });
    this.ws.on('close', () => {
      this.closed = true;
      if (this.pending) this.fail(new Error('socket closed while waiting for an ack'));
    });
    this.ws.on('message', (data) => this.receive(data));
  }

  receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      this.stats.badFrames++;
      return;
    }
    const pending = this.pending;
    if (msg.type === 'ack' && pending && msg.msgid === pending.msgid) {
      this.pending = null;
      clearTimeout(pending.timer);
      if (!Array.isArray(msg.data) || msg.data.length === 0) this.stats.ackWithoutVerbs++;
      pending.resolve(now() - pending.sentAt);
      return;
    }
    if (msg.type === 'ack') {
      this.stats.strayAcks++;
      return;
    }
    if (this.onFrame) this.onFrame(this, msg);
    else this.stats.unexpectedFrames++;
  }

  fail(err) {
    const pending = this.pending;
    this.pending = null;
    clearTimeout(pending.timer);
    pending.reject(err);
  }

  /* Send an ack-required frame and wait for its ack; resolves with the latency in ms. */
  request(frame, msgid, timeoutMs = ACK_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stats.ackTimeouts++;
        this.fail(new Error(`no ack for ${msgid} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = { msgid, sentAt: now(), resolve, reject, timer };
      this.ws.send(frame);
    });
  }

  async start() {
    await this.opened;
    const { msgid, frame } = m.sessionNew(this.sid);
    return this.request(frame, msgid, SETUP_ACK_TIMEOUT_MS);
  }

  hook() {
    const msgid = m.newMsgid();
    return this.request(this.hookFrame(msgid), msgid);
  }

  send(frame) {
    if (!this.closed) this.ws.send(frame);
  }

  /* call:status completed, then a normal close, as jambonz ends a call; bounded. */
  async end(timeoutMs = 2000) {
    if (this.closed) return;
    try {
      this.ws.send(m.callStatusCompleted(this.sid));
      this.ws.close(1000);
    } catch (err) {
      this.ws.terminate();
      return;
    }
    const closed = new Promise((resolve) => this.ws.once('close', resolve));
    const timer = sleep(timeoutMs).then(() => { if (!this.closed) this.ws.terminate(); });
    await Promise.race([closed, timer]);
  }

  terminate() {
    this.ws.terminate();
  }
}

function newStats() {
  return { socketErrors: 0, badFrames: 0, strayAcks: 0, unexpectedFrames: 0, ackTimeouts: 0,
    ackWithoutVerbs: 0, setupFailures: 0, hookFailures: 0 };
}

/*
 * Open `count` calls with at most `concurrency` set-ups in flight. No new set-up starts after
 * `deadline`; those in flight run to their ack (bounded by SETUP_ACK_TIMEOUT_MS), so the server
 * is not left working on abandoned set-ups while the next phase is measured.
 * Returns the calls whose session:new was acked, and the set-up latencies.
 */
async function openCalls(url, count, concurrency, deadline, stats) {
  const calls = [];
  const latencies = [];
  let next = 0;
  async function worker() {
    while (next < count && now() < deadline) {
      next++;
      const call = new SimCall(url, stats);
      try {
        latencies.push(await call.start());
        calls.push(call);
      } catch (err) {
        stats.setupFailures++;
        call.terminate();
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  return { calls, latencies };
}

async function endCalls(calls) {
  await Promise.all(calls.map((call) => call.end()));
}

// ---------------------------------------------------------------- cases

async function runHooks(args) {
  const stats = newStats();
  const setupStart = now();
  const { calls } = await openCalls(args.url, args.calls, args.setupConcurrency,
    now() + args.setupTimeout * 1000, stats);
  const setupSeconds = (now() - setupStart) / 1000;

  let measuring = false;
  let stopping = false;
  let roundTrips = 0;
  let cycled = 0;
  const latencies = [];
  const K = args.hooksPerCall;
  const closing = [];
  const live = new Set(calls); // the calls to end at the end of the run

  /*
   * One call slot: K hook round trips, then call:status completed and close, and a new call
   * takes the slot (as jambonz would: the call ends, another comes in). The first call of each
   * slot gets a random share of K so the slots do not all end at once. K = 0: calls never end.
   */
  async function loop(first) {
    let call = first;
    let budget = K > 0 ? 1 + Math.floor(Math.random() * K) : Infinity;
    let done = 0;
    while (!stopping && done < args.maxHooksPerCall) {
      if (budget === 0) {
        live.delete(call);
        closing.push(call.end());
        call = new SimCall(args.url, stats);
        try {
          await call.start();
        } catch (err) {
          stats.setupFailures++;
          call.terminate();
          return;
        }
        if (measuring) cycled++;
        live.add(call);
        budget = K;
      }
      if (call.closed) return;
      let latency;
      try {
        latency = await call.hook();
      } catch (err) {
        stats.hookFailures++;
        return;
      }
      budget--;
      done++;
      if (measuring) {
        roundTrips++;
        latencies.push(latency);
      }
    }
  }

  const loops = Promise.all(calls.map(loop));
  await sleep(args.warmup * 1000);
  const cpu0 = serverCpu(args.serverPid);
  const client0 = process.cpuUsage();
  const t0 = now();
  measuring = true;
  await sleep(args.duration * 1000);
  measuring = false;
  const elapsed = (now() - t0) / 1000;
  const cpu1 = serverCpu(args.serverPid);
  const client = process.cpuUsage(client0);
  stopping = true;
  // Every loop ends within one ack or set-up timeout: what is in flight is acked or times out.
  await Promise.race([loops, sleep(SETUP_ACK_TIMEOUT_MS + 1000)]);
  await Promise.all(closing);
  await endCalls([...live]);

  const cpu = cpuDelta(cpu0, cpu1);
  const messages = 2 * roundTrips; // a verb:hook in, an ack out
  return Object.assign({
    case: 'hooks', calls_requested: args.calls, calls_open: calls.length,
    server_processes: cpu1 === null ? null : cpu1.processes,
    hooks_per_call: K, calls_cycled: cycled,
    setup_seconds: round(setupSeconds), round_trips: roundTrips, seconds: round(elapsed),
    rt_per_s: round(roundTrips / elapsed, 1),
    server_cpu_s: cpu === null ? null : round(cpu),
    cpu_s_per_10k_msgs: cpu === null || messages === 0 ? null : round((cpu * 10000) / messages),
    // Share of one core the load generator used: near 1.0 means the client was the limit.
    client_cpu_util: round((client.user + client.system) / 1e6 / elapsed),
    server_cpu_util: cpu === null ? null : round(cpu / elapsed),
  }, latencySummary(latencies), { stats });
}

async function runSetup(args) {
  const stats = newStats();
  let measuring = false;
  let stopping = false;
  let setups = 0;
  const latencies = [];
  const closing = [];
  const deadline = now() + (args.warmup + args.duration) * 1000 + SETUP_ACK_TIMEOUT_MS;

  async function worker() {
    while (!stopping && now() < deadline) {
      const call = new SimCall(args.url, stats);
      const started = now();
      try {
        await call.start();
      } catch (err) {
        stats.setupFailures++;
        call.terminate();
        await sleep(10);
        continue;
      }
      if (measuring) {
        setups++;
        latencies.push(now() - started);
      }
      // End the call without waiting for the close handshake (bounded by end()'s timer),
      // so the worker measures set-ups, not closes.
      closing.push(call.end());
    }
  }

  const workers = Promise.all(Array.from({ length: args.concurrency }, worker));
  await sleep(args.warmup * 1000);
  const cpu0 = serverCpu(args.serverPid);
  const client0 = process.cpuUsage();
  const t0 = now();
  measuring = true;
  await sleep(args.duration * 1000);
  measuring = false;
  const elapsed = (now() - t0) / 1000;
  const cpu1 = serverCpu(args.serverPid);
  const client = process.cpuUsage(client0);
  stopping = true;
  await Promise.race([workers, sleep(SETUP_ACK_TIMEOUT_MS + 3000)]);
  await Promise.all(closing);
  const cpu = cpuDelta(cpu0, cpu1);
  const setupLat = latencySummary(latencies);
  return {
    case: 'setup', concurrency: args.concurrency, setups, seconds: round(elapsed),
    server_processes: cpu1 === null ? null : cpu1.processes,
    setups_per_s: round(setups / elapsed, 1), setup_p50_ms: setupLat.p50_ms,
    setup_p99_ms: setupLat.p99_ms, server_cpu_s: cpu === null ? null : round(cpu),
    client_cpu_util: round((client.user + client.system) / 1e6 / elapsed),
    server_cpu_util: cpu === null ? null : round(cpu / elapsed), stats,
  };
}

async function runIdle(args) {
  const stats = newStats();
  // A few calls first, so lazily loaded code and first-call caches count in the baseline.
  const warm = await openCalls(args.url, 10, 10, now() + args.setupTimeout * 1000, stats);
  await endCalls(warm.calls);
  await sleep(args.settle * 1000);
  const before = serverRss(args.serverPid);
  const setupStart = now();
  const { calls } = await openCalls(args.url, args.calls, args.setupConcurrency,
    now() + args.setupTimeout * 1000, stats);
  const setupSeconds = (now() - setupStart) / 1000;
  let peak = serverRss(args.serverPid).rss;
  const settleUntil = now() + args.settle * 1000;
  while (now() < settleUntil) {
    await sleep(100);
    peak = Math.max(peak, serverRss(args.serverPid).rss);
  }
  const after = serverRss(args.serverPid);
  await endCalls(calls);
  const open = calls.length;
  const perCall = (bytes) => (open && bytes !== null ? round((bytes - before.rss) / open / 1024, 1) : null);
  return {
    case: 'idle', calls_requested: args.calls, calls_open: open, setup_seconds: round(setupSeconds),
    server_processes: after.processes,
    rss_before_mib: mib(before.rss), rss_peak_mib: mib(peak), rss_hwm_mib: mib(after.hwm),
    kib_per_idle_call: perCall(peak), stats,
  };
}

/*
 * jambonz's TTS buffer, simplified (docs/jambonz.md, Streaming TTS): tokens are refused with "full" when the
 * buffer would exceed 1000 chars; text up to the last sentence boundary goes to the vendor at
 * once (a fast vendor), and when a paused stream drops to <= 200 chars, stream_resumed.
 */
class TtsBuffer {
  constructor() {
    this.buffered = '';
    this.paused = false;
  }
  tokens(text) {
    if (this.buffered.length + text.length > 1000) {
      const firstRefusal = !this.paused;
      this.paused = true;
      return { status: 'failed', reason: 'full', paused: firstRefusal };
    }
    this.buffered += text;
    const boundary = /[.!?](?=\s|$)/g;
    let last = -1;
    for (let match = boundary.exec(this.buffered); match; match = boundary.exec(this.buffered)) {
      last = match.index;
    }
    if (last >= 0) this.buffered = this.buffered.slice(last + 1).trimStart();
    const resumed = this.paused && this.buffered.length <= 200;
    if (resumed) this.paused = false;
    return { status: 'ok', resumed };
  }
  flush() {
    const resumed = this.paused;
    this.buffered = '';
    this.paused = false;
    return resumed;
  }
}

async function runTts(args) {
  const stats = newStats();
  // Set the calls up first (bounded concurrency: the SDK spends ~100 ms of CPU per set-up),
  // then every call's caller speaks at once: a gather verb:hook, answered with a streaming say
  // and the 300-delta answer. Time to last token runs from that hook to the last token.
  const setupStart = now();
  const { calls } = await openCalls(args.url, args.calls, Math.min(args.setupConcurrency, 10),
    now() + args.setupTimeout * 1000, stats);
  const setupSeconds = (now() - setupStart) / 1000;
  const perCall = [];
  const deadline = now() + args.duration * 1000 + ACK_TIMEOUT_MS;

  function oneCall(call) {
    return new Promise((resolve) => {
      const buffer = new TtsBuffer();
      const record = { messages: 0, tokenMessages: 0, chars: 0, hookAt: now(), ackAt: null,
        lastTokenAt: null, done: false };
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        perCall.push(record);
        resolve();
      };
      const timer = setTimeout(() => { stats.ttsTimeouts = (stats.ttsTimeouts || 0) + 1; finish(); },
        Math.max(0, deadline - now()));
      call.onFrame = (c, msg) => {
        record.messages++;
        if (msg.type !== 'command') { stats.unexpectedFrames++; return; }
        if (msg.command === 'tts:tokens') {
          record.tokenMessages++;
          const { id, tokens } = msg.data || {};
          const result = buffer.tokens(String(tokens || ''));
          c.send(m.ttsTokensResult(c.sid, id, result.status, result.reason));
          if (result.paused) c.send(m.ttsStreamingEvent(c.sid, 'stream_paused'));
          if (result.resumed) c.send(m.ttsStreamingEvent(c.sid, 'stream_resumed'));
          if (result.status === 'ok') {
            record.chars += String(tokens).length;
            if (record.chars >= args.ttsChars && !record.done) {
              record.done = true;
              record.lastTokenAt = now();
              // Count a trailing flush if it comes right away, then end the call.
              setTimeout(finish, 200);
            }
          }
        } else if (msg.command === 'tts:flush') {
          if (buffer.flush()) c.send(m.ttsStreamingEvent(c.sid, 'stream_resumed'));
        }
      };
      record.hookAt = now();
      call.hook().then(() => { record.ackAt = now(); }, () => { stats.hookFailures++; finish(); });
    });
  }

  const cpu0 = serverCpu(args.serverPid);
  const t0 = now();
  await Promise.all(calls.map(oneCall));
  const wall = (now() - t0) / 1000;
  const cpu1 = serverCpu(args.serverPid);
  await endCalls(calls);
  const complete = perCall.filter((r) => r.done);
  const ttlt = complete.map((r) => r.lastTokenAt - r.hookAt);
  const messages = perCall.map((r) => r.messages + 1); // + the hook's ack
  const mean = (xs) => (xs.length ? round(xs.reduce((a, b) => a + b, 0) / xs.length, 1) : null);
  return Object.assign({
    case: 'tts', calls_requested: args.calls, calls_open: calls.length,
    calls_complete: complete.length, setup_seconds: round(setupSeconds),
    chars_per_call: args.ttsChars, seconds: round(wall),
    server_cpu_s: cpu0 === null ? null : round(cpuDelta(cpu0, cpu1)),
    server_processes: cpu1 === null ? null : cpu1.processes,
    messages_per_call: mean(messages),
    tts_tokens_per_call: mean(perCall.map((r) => r.tokenMessages)),
  }, prefixKeys('ttlt_', latencySummary(ttlt)), { stats });
}

function prefixKeys(prefix, obj) {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [prefix + k, v]));
}

function round(x, digits = 3) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function mib(bytes) {
  return bytes === null ? null : round(bytes / 1048576, 1);
}

// ---------------------------------------------------------------- main

async function main() {
  const args = parseArgs(process.argv);
  const cases = { hooks: runHooks, setup: runSetup, idle: runIdle, tts: runTts };
  if (!cases[args.case]) throw new Error(`unknown case ${args.case}`);
  const result = await cases[args.case](args);
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`loadgen: ${err.stack || err}\n`);
  process.exit(1);
});
