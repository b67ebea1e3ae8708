// Verdict oracle for jbtrio's 10.x/11.x verb validator: one JSON payload per stdin line in, one
// {"ok": bool, "error": message|null} line out, judged by validate(logger, verbs) of
// @jambonz/schema 0.4.15 (normalise the list, then Ajv per verb), the check jambonz applies.
'use strict';
const readline = require('readline');
const { validate } = require('@jambonz/schema');

const logger = { info() {}, debug() {}, error() {}, warn() {} };
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
rl.on('line', (line) => {
  if (!line.trim()) return;
  let verdict;
  try {
    validate(logger, JSON.parse(line));
    verdict = { ok: true, error: null };
  } catch (err) {
    verdict = { ok: false, error: String(err && err.message) };
  }
  out.push(JSON.stringify(verdict));
});
rl.on('close', () => process.stdout.write(out.length ? out.join('\n') + '\n' : ''));
