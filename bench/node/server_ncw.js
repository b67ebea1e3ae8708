'use strict';
/*
 * The app on @jambonz/node-client-ws (the SDK's predecessor), written as its README shows:
 * session.say().gather().send() for session:new, a listener on the gather's actionHook
 * answering with session.say().gather().reply(). Its verb validation (verb-specifications,
 * the same as jambonz's) always runs. Bound to 127.0.0.1 only.
 *
 *   node server_ncw.js PORT          hooks app
 *   BENCH_TTS=1 node server_ncw.js   TTS app: the hook is answered with a streaming say,
 *                                    then one tts:tokens message per delta (stop-and-wait)
 */
const http = require('http');
const { createEndpoint } = require('@jambonz/node-client-ws');
const m = require('./messages');

const port = Number(process.argv[2] || 3000);
const ttsMode = process.env.BENCH_TTS === '1';

const server = http.createServer();
const makeService = createEndpoint({ server });
const svc = makeService({ path: m.SERVICE_PATH });

const gather = { input: ['speech'], actionHook: m.HOOK, timeout: 10, say: { text: m.PROMPT } };

svc.on('session:new', (session) => {
  session.on(m.HOOK, () => {
    if (ttsMode) {
      // The LLM answer: a streaming say, then one tts:tokens message per delta.
      session.say({ stream: true }).reply();
      for (const delta of m.ttsDeltas()) session.sendTtsTokens(delta).catch(() => {});
      session.flushTtsTokens();
      return;
    }
    session.say({ text: m.ANSWER }).gather(gather).reply();
  });
  session.on('close', () => {});
  session.say({ text: m.GREETING }).gather(gather).send();
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
