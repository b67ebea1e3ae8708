'use strict';
/*
 * What the simulated jambonz sends, and what the servers under test answer with.
 *
 * The inbound frames are jambonz's documented example payloads (session:new with SIP headers, defaults and
 * env vars; a gather verb:hook with a speech result; call:status completed), with a fresh
 * 22-character msgid per message and a fresh call_sid per call, exactly as the fake jambonz in
 * jbtrio/testing builds them (envelope {type, msgid, call_sid, hook?, b3?, data}, snake_case data).
 *
 * The app every server implements: answer session:new with a say and a gather; answer each
 * gather hook with a say and the next gather. The verbs are the same for every server.
 */

const crypto = require('crypto');

const SERVICE_PATH = '/bench';
const HOOK = '/gather';

// ---------------------------------------------------------------- ids

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function randomBase58(length) {
  const bytes = crypto.randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += BASE58[bytes[i] % 58];
  return out;
}

// A msgid is 22 base58 characters, like jambonz's short-uuid ids. A random 12-character prefix
// per process plus a 10-character counter keeps them unique without a syscall per message.
const MSGID_PREFIX = randomBase58(12);
let msgidCounter = 0;

function newMsgid() {
  let n = ++msgidCounter;
  let tail = '';
  for (let i = 0; i < 10; i++) {
    tail = BASE58[n % 58] + tail;
    n = Math.floor(n / 58);
  }
  return MSGID_PREFIX + tail;
}

function newCallSid() {
  return crypto.randomUUID();
}

// ---------------------------------------------------------------- jambonz -> app frames

function callInfo(callSid) {
  return {
    call_sid: callSid,
    direction: 'inbound',
    from: '+15083084809',
    to: '+15083728299',
    call_id: 'd8907723-0bc7-123b-09b5-12e962f3039b',
    sip_status: 200,
    sip_reason: 'OK',
    call_status: 'in-progress',
    account_sid: '9351f46a-678c-43f5-b8a6-d4eb58d131af',
    application_sid: '7087fe50-8acb-4f3b-b820-97b573723aab',
    trace_id: '654c5323d6f907233a1069136b8a330e',
    fs_sip_address: '10.0.13.72:5070',
  };
}

/* A session:new frame and its msgid. */
function sessionNew(callSid) {
  const msgid = newMsgid();
  return { msgid, frame: sessionNewFrame(callSid, msgid) };
}

function sessionNewFrame(callSid, msgid) {
  const data = {
    sip: {
      headers: {
        from: '<sip:+15083084809@3.212.205.202:5060>;tag=9mgyBeaUy4H2S',
        to: '<sip:+15083728299@10.0.13.72:5070>',
        'call-id': 'dae8845526bf7fe640ad0162238473e4@0.0.0.0',
        'X-CID': 'dae8845526bf7fe640ad0162238473e4@0.0.0.0',
      },
      method: 'INVITE',
      uri: 'sip:+15083728299@10.0.13.72:5070',
      body: 'v=0\r\no=- 1 1 IN IP4 54.172.60.3\r\ns=-\r\nc=IN IP4 54.172.60.3\r\nt=0 0\r\n' +
        'm=audio 17000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n',
    },
    direction: 'inbound',
    trace_id: '654c5323d6f907233a1069136b8a330e',
    has_recording: false,
    caller_name: '',
    call_sid: callSid,
    account_sid: '9351f46a-678c-43f5-b8a6-d4eb58d131af',
    application_sid: '7087fe50-8acb-4f3b-b820-97b573723aab',
    from: '+15083084809',
    to: '+15083728299',
    call_id: 'd8907723-0bc7-123b-09b5-12e962f3039b',
    sip_status: 100,
    sip_reason: 'Trying',
    call_status: 'trying',
    sbc_callid: 'dae8845526bf7fe640ad0162238473e4@0.0.0.0',
    originating_sip_ip: '54.172.60.3',
    originating_sip_trunk_name: 'Twilio',
    local_sip_address: '10.0.13.72:5070',
    service_provider_sid: '2708b1b3-2736-40ea-b502-c53d8396247f',
    defaults: {
      synthesizer: { vendor: 'google', language: 'en-US', voice: 'en-US-Wavenet-C' },
      recognizer: { vendor: 'google', language: 'en-US' },
    },
    env_vars: { GREETING: 'Hello!' },
  };
  return JSON.stringify({ type: 'session:new', msgid, call_sid: callSid,
    b3: '18228daa536f82e0ec29074e7bf47b89-dd3bdf1f177f2995-1', data });
}

/*
 * verb:hook frames are built per call from a prefix and a suffix around the msgid, so the load
 * generator spends no time serialising (it must never be the bottleneck).
 */
function hookTemplate(callSid) {
  const data = Object.assign({
    speech: {
      is_final: true,
      alternatives: [{ confidence: 0.919, transcript: "I'd like to book a car" }],
      language_code: 'en-US',
    },
    reason: 'speechDetected',
  }, callInfo(callSid));
  const suffix = JSON.stringify({ call_sid: callSid, hook: HOOK,
    b3: '18228daa536f82e0ec29074e7bf47b89-dd3bdf1f177f2995-1', data }).slice(1);
  const prefix = '{"type":"verb:hook","msgid":"';
  return (msgid) => prefix + msgid + '",' + suffix;
}

function callStatusCompleted(callSid) {
  const data = Object.assign(callInfo(callSid), { call_status: 'completed', sip_status: 200,
    duration: 12 });
  return JSON.stringify({ type: 'call:status', msgid: newMsgid(), call_sid: callSid, data });
}

function ttsTokensResult(callSid, id, status, reason) {
  const data = reason ? { id, status, reason } : { id, status };
  return JSON.stringify({ type: 'tts:tokens-result', msgid: newMsgid(), call_sid: callSid, data });
}

function ttsStreamingEvent(callSid, eventType) {
  return JSON.stringify({ type: 'tts:streaming-event', msgid: newMsgid(), call_sid: callSid,
    data: { event_type: eventType } });
}

// ---------------------------------------------------------------- the app's verbs

const GREETING = 'Welcome to the benchmark line.';
const PROMPT = 'Tell me what you need, after the tone.';
const ANSWER = 'You said: I would like to book a car.';

// Exactly what each server sends (the SDKs' builders and jbtrio's typed builders produce this).
function gatherVerb() {
  return { verb: 'gather', input: ['speech'], actionHook: HOOK, timeout: 10,
    say: { text: PROMPT } };
}
function greetingVerbs() {
  return [{ verb: 'say', text: GREETING }, gatherVerb()];
}
function answerVerbs() {
  return [{ verb: 'say', text: ANSWER }, gatherVerb()];
}

// ---------------------------------------------------------------- the TTS case

/*
 * The "300-delta answer": an LLM answer arriving as 300 small deltas (a word and its space,
 * like streamed tokens). bench/jbtrio_server.py builds the same list (run.py checks the length).
 */
const TTS_WORDS = ('Sure. The weather in Boston today is mostly sunny with a light breeze from ' +
  'the west, and the high will be around seventy one degrees. Tonight it gets cooler, so ' +
  'bring a jacket if you plan to be out late!').split(' ');
const TTS_DELTAS = 300;

function ttsDeltas() {
  const deltas = [];
  for (let i = 0; i < TTS_DELTAS; i++) deltas.push(TTS_WORDS[i % TTS_WORDS.length] + ' ');
  return deltas;
}

function ttsChars() {
  return ttsDeltas().reduce((n, d) => n + d.length, 0);
}

// A streaming say opens the TTS stream; the tokens follow as tts:tokens commands.
function ttsVerbs() {
  return [{ verb: 'say', stream: true }];
}

module.exports = {
  SERVICE_PATH, HOOK, newMsgid, newCallSid, sessionNew, hookTemplate, callStatusCompleted,
  ttsTokensResult, ttsStreamingEvent, greetingVerbs, answerVerbs, gatherVerb,
  GREETING, PROMPT, ANSWER, ttsDeltas, ttsChars, ttsVerbs,
};
