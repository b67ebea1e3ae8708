'use strict';
/*
 * The audio load generator: plays jambonz's side of N listen/stream sockets against one or
 * more echo servers (bench/audio.py runs it).
 *
 * Each stream: connect with subprotocol audio.drachtio.org, send the JSON metadata frame as
 * jambonz does, then one binary L16 frame every --frame-ms (20 ms: 320 bytes at 8 kHz mono),
 * on a schedule computed from the clock (streams spread over the period, as calls are), with
 * a sequence number and a send time in the first 12 bytes. The server echoes every frame
 * (bidirectional streaming); this side counts the echoes and their round-trip latency.
 * Every loop is bounded in count and in time. Prints one JSON object on stdout.
 *
 *   node audio_load.js --urls ws://127.0.0.1:PORT/echo[,ws://...] --streams 100 \
 *        --warmup 2 --duration 8 --server-pids PID[,PID]
 *
 * Measured over --duration after --warmup: frames sent and echoed per second, echo latency
 * p50/p99, the servers' CPU (utime + stime from /proc, summed over each server's process
 * tree) per frame (in + out) and as a share of one core, this process's CPU share, and the
 * servers' RSS growth per open stream (after the streams opened, before any audio vs. before
 * they opened).
 */

const fs = require('fs');
const WebSocket = require('ws');

const SUBPROTOCOL = 'audio.drachtio.org';

function parseArgs(argv) {
  const args = {
    urls: null, streams: 100, warmup: 2, duration: 8, serverPids: '', rate: 8000,
    frameMs: 20, setupTimeout: 60, setupConcurrency: 100, tickMs: 2,
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`);
    const value = argv[i + 1];
    args[key] = typeof args[key] === 'number' ? Number(value) : value;
  }
  if (!args.urls) throw new Error('--urls is required');
  return args;
}

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- /proc (as loadgen.js reads it)

const CLK_TCK = 100;

function processTree(pid) {
  const pids = [];
  const visit = (p) => {
    pids.push(p);
    let tasks;
    try { tasks = fs.readdirSync(`/proc/${p}/task`); } catch (err) { return; }
    for (const tid of tasks) {
      let children;
      try { children = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8'); } catch (err) { continue; }
      for (const child of children.split(' ')) if (child) visit(Number(child));
    }
  };
  visit(pid);
  return pids;
}

function readOr(path, fallback) {
  try { return fs.readFileSync(path, 'utf8'); } catch (err) { return fallback; }
}

function cpuSeconds(pids) {
  let seconds = 0;
  for (const pid of pids) {
    for (const p of processTree(pid)) {
      const stat = readOr(`/proc/${p}/stat`, null);
      if (stat === null) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      seconds += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    }
  }
  return seconds;
}

function rssBytes(pids) {
  let rss = 0;
  for (const pid of pids) {
    for (const p of processTree(pid)) {
      const status = readOr(`/proc/${p}/status`, null);
      if (status === null) continue;
      rss += Number((status.match(/^VmRSS:\s+(\d+)/m) || [0, 0])[1]) * 1024;
    }
  }
  return rss;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const round = (x, d = 3) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

// ---------------------------------------------------------------- one stream

class Stream {
  constructor(url, index, args, stats) {
    this.index = index;
    this.sent = 0;
    this.stats = stats;
    this.frameBytes = (args.rate * 2 * args.frameMs) / 1000;
    this.offset = (index * args.frameMs) / args.streams; // spread over the period
    this.ws = new WebSocket(url, SUBPROTOCOL, { perMessageDeflate: false });
    this.ws.binaryType = 'nodebuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.ws.on('error', () => { stats.socketErrors++; });
    this.ws.on('close', () => { this.closed = true; });
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary || data.length < 12) return;
      if (stats.measuring) {
        stats.echoed++;
        const sentAt = data.readDoubleLE(4);
        if ((data.readUInt32LE(0) & 7) === 0) stats.latency.push(now() - sentAt);
      }
    });
  }

  metadata(sid) {
    return JSON.stringify({
      sampleRate: 8000, mixType: 'mono', callSid: sid, direction: 'inbound',
      from: '15083084809', to: '15083728299', callId: `${sid}@10.0.0.1`,
      accountSid: 'bench', applicationSid: 'bench',
    });
  }

  sendDue(elapsed, frameMs, stats) {
    if (this.closed) return;
    const due = Math.floor((elapsed - this.offset) / frameMs) + 1;
    let burst = 0;
    while (this.sent < due && burst < 5) {
      const frame = Buffer.allocUnsafe(this.frameBytes).fill(0, 12);
      frame.writeUInt32LE(this.sent, 0);
      frame.writeDoubleLE(now(), 4);
      this.ws.send(frame, { binary: true });
      this.sent++;
      burst++;
      if (stats.measuring) stats.sent++;
    }
    if (this.sent < due) {
      if (stats.measuring) stats.lateFrames += due - this.sent; // the client fell behind: skipped
      this.sent = due;
    }
  }
}

// ---------------------------------------------------------------- the run

async function main() {
  const args = parseArgs(process.argv);
  const urls = args.urls.split(',');
  const pids = args.serverPids ? args.serverPids.split(',').map(Number) : [];
  const stats = { measuring: false, sent: 0, echoed: 0, latency: [], socketErrors: 0, lateFrames: 0 };
  const rssBefore = pids.length ? rssBytes(pids) : null;
  const streams = [];
  const deadline = now() + args.setupTimeout * 1000;
  let next = 0;
  let failed = 0;
  async function opener() {
    while (next < args.streams && now() < deadline) {
      const i = next++;
      const s = new Stream(urls[i % urls.length], i, args, stats);
      try {
        await s.opened;
        s.ws.send(s.metadata(`bench-${process.pid}-${i}`));
        streams.push(s);
      } catch (err) {
        failed++;
        s.ws.terminate();
      }
    }
  }
  await Promise.all(Array.from({ length: args.setupConcurrency }, opener));
  await sleep(500); // let the servers settle their per-stream state
  const rssOpen = pids.length ? rssBytes(pids) : null;

  const start = now();
  const timer = setInterval(() => {
    const elapsed = now() - start;
    for (const s of streams) s.sendDue(elapsed, args.frameMs, stats);
  }, args.tickMs);

  await sleep(args.warmup * 1000);
  const cpu0 = pids.length ? cpuSeconds(pids) : null;
  const client0 = process.cpuUsage();
  const t0 = now();
  stats.measuring = true;
  let rssPeak = rssOpen;
  const sampler = setInterval(() => {
    if (pids.length) rssPeak = Math.max(rssPeak, rssBytes(pids));
  }, 500);
  await sleep(args.duration * 1000);
  stats.measuring = false;
  const seconds = (now() - t0) / 1000;
  const cpu1 = pids.length ? cpuSeconds(pids) : null;
  const client = process.cpuUsage(client0);
  clearInterval(sampler);
  clearInterval(timer);

  for (const s of streams) s.ws.close(1000);
  await sleep(300);
  for (const s of streams) s.ws.terminate();

  const lat = Float64Array.from(stats.latency).sort();
  const serverCpu = cpu1 === null ? null : cpu1 - cpu0;
  const frames = stats.sent + stats.echoed;
  const result = {
    streams: args.streams,
    streams_open: streams.length,
    streams_failed: failed,
    seconds: round(seconds, 2),
    frames_sent_per_s: round(stats.sent / seconds, 0),
    frames_echoed_per_s: round(stats.echoed / seconds, 0),
    offered_per_s: round((streams.length * 1000) / args.frameMs, 0),
    echo_ratio: stats.sent ? round(stats.echoed / stats.sent, 4) : null,
    p50_ms: round(quantile(lat, 0.5)),
    p99_ms: round(quantile(lat, 0.99)),
    max_ms: round(lat.length ? lat[lat.length - 1] : null),
    server_cpu_util: serverCpu === null ? null : round(serverCpu / seconds),
    cpu_us_per_frame: serverCpu === null || !frames ? null : round((serverCpu * 1e6) / frames, 2),
    client_cpu_util: round((client.user + client.system) / 1e6 / seconds),
    kib_per_stream: rssBefore === null || !streams.length ? null
      : round((rssOpen - rssBefore) / 1024 / streams.length, 1),
    kib_per_stream_streaming: rssBefore === null || !streams.length ? null
      : round((rssPeak - rssBefore) / 1024 / streams.length, 1),
    late_frames: stats.lateFrames,
    socket_errors: stats.socketErrors,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`audio_load: ${err.stack || err}\n`);
  process.exit(1);
});
