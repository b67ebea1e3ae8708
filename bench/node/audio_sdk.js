'use strict';
/*
 * The audio echo on @jambonz/sdk (the official Node SDK), as its README shows an audio
 * handler: makeService.audio({path}) and, per stream, every binary frame sent back with
 * stream.sendAudio(). Bound to 127.0.0.1 only.
 *
 *   node audio_sdk.js PORT        prints "listening PORT" once bound
 */
const http = require('http');
const { createEndpoint } = require('@jambonz/sdk/websocket');

const port = Number(process.argv[2] || 0);
const quiet = { info: () => {}, error: (...a) => console.error(...a), debug: () => {} };

const server = http.createServer();
const makeService = createEndpoint({ server, logger: quiet });
const audio = makeService.audio({ path: '/echo' });

audio.on('connection', (stream) => {
  stream.on('audio', (pcm) => stream.sendAudio(pcm));
  stream.on('error', () => {});
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
