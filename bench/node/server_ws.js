'use strict';
/*
 * The ceiling: a bare `ws` server that acks every ack-required message with canned JSON
 * (the same verbs the apps send), no SDK, no validation. Bound to 127.0.0.1 only.
 *
 *   node server_ws.js PORT
 */
const http = require('http');
const { WebSocketServer } = require('ws');
const m = require('./messages');

const port = Number(process.argv[2] || 3000);
const GREETING = JSON.stringify(m.greetingVerbs());
const ANSWER = JSON.stringify(m.answerVerbs());
const TTS = JSON.stringify(m.ttsVerbs());
const ttsMode = process.env.BENCH_TTS === '1';

const server = http.createServer((req, res) => {
  res.writeHead(405);
  res.end();
});
const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has('ws.jambonz.org') ? 'ws.jambonz.org' : false),
});

wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    if (msg.type === 'session:new') {
      ws.send(`{"type":"ack","msgid":"${msg.msgid}","data":${GREETING}}`);
    } else if (msg.type === 'verb:hook') {
      ws.send(`{"type":"ack","msgid":"${msg.msgid}","data":${ttsMode ? TTS : ANSWER}}`);
      if (ttsMode) pumpTts(ws);
    } else if (msg.type === 'tts:tokens-result') {
      onTtsResult(ws, msg.data);
    } else if (msg.type === 'call:status' && msg.data && msg.data.call_status === 'completed') {
      ws.close(1000);
    }
  });
  ws.on('error', () => {});
});

/* Stop-and-wait, one message per delta, like the SDKs (the ceiling of that design). */
function pumpTts(ws) {
  ws.tts = { deltas: m.ttsDeltas(), next: 0 };
  sendNextTokens(ws);
}
function sendNextTokens(ws) {
  const t = ws.tts;
  if (t.next >= t.deltas.length) {
    ws.send('{"type":"command","command":"tts:flush"}');
    return;
  }
  ws.send(JSON.stringify({ type: 'command', command: 'tts:tokens',
    data: { id: t.next + 1, tokens: t.deltas[t.next] } }));
}
function onTtsResult(ws, data) {
  if (!ws.tts) return;
  if (data.status === 'ok') ws.tts.next++;
  sendNextTokens(ws);
}

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
