// The official Node SDK (`openai`, `OpenAIRealtimeWS`) against realtime-mock, as an app would point it.
//
// The SDK dials only wss:, so the mock serves TLS (`realtime-mock serve --tls`) and Node trusts its
// certificate through NODE_EXTRA_CA_CERTS. Settings (argument or environment variable):
//   --base-url       REALTIME_MOCK_BASE_URL        https://127.0.0.1:PORT/v1 (the TLS server)
//   --http-base-url  REALTIME_MOCK_HTTP_BASE_URL   http://127.0.0.1:PORT/v1 (REST over plain http: the client secret)
//   --speech         REALTIME_MOCK_SPEECH          a file of raw PCM16 24 kHz mono speech (the audio turn)
//   --parts          REALTIME_MOCK_PARTS           which of text,tool,audio,secret to run (default: all)
// Prints one JSON line of what it observed; exits 1 on any failure, and within 9 s whatever happens.
//
//   NODE_EXTRA_CA_CERTS=.realtime-mock/tls/cert.pem node openai_node.mjs \
//     --base-url https://127.0.0.1:8443/v1 --http-base-url http://127.0.0.1:8000/v1 --parts text,tool

import { readFileSync } from 'node:fs';

import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { VERSION } from 'openai/version';

import { check, EventQueue, observed, run, setting, within } from './common.mjs';

const PARTS = { text, tool, audio, secret };
const TOOLS = [{
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}];

/** A connection of the SDK, its server events queued; once `session.created` came (unless `wait` is false). */
async function connect(apiKey, wait = true) {
  const client = new OpenAI({ apiKey, baseURL: setting('base-url', 'REALTIME_MOCK_BASE_URL'), maxRetries: 0 });
  const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client);
  const queue = new EventQueue();
  const errors = []; // what the SDK reported on its `error` listener (server errors and transport failures)
  rt.on('event', (event) => queue.push(event));
  rt.on('error', (error) => {
    errors.push(error.error ?? { message: error.message, cause: String(error.cause?.code ?? error.cause) });
  });
  const closed = new Promise((resolve) => {
    rt.socket.on('close', (code, reason) => {
      queue.push({ type: 'close', code, reason: reason.toString() });
      resolve(code);
    });
  });
  const connection = { rt, queue, errors, closed, url: rt.url.toString() };
  if (wait) {
    connection.created = (await queue.until('session.created', 4000).catch((error) => {
      const reported = errors.map((e) => [e.code, e.message, e.cause].filter(Boolean).join(' ')).join('; ');
      throw new Error(`${error.message} at ${connection.url}${reported ? ` (the SDK reported: ${reported})` : ''}`);
    })).at(-1);
  }
  return connection;
}

async function close(connection) {
  connection.rt.close();
  await within(2000, 'close', connection.closed);
}

function userMessage(text) {
  return { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } };
}

const types = (events) => events.map((event) => event.type);

/** (a) A text turn: the default "model" answers "You said: <text>". */
async function text() {
  const connection = await connect('sk-test');
  const { rt, queue } = connection;
  rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'] } });
  await queue.until('session.updated');
  rt.send(userMessage('Say a short greeting.'));
  rt.send({ type: 'response.create' });
  const events = await queue.until('response.done');
  await close(connection);
  const done = events.at(-1).response;
  return {
    url: connection.url,
    model: connection.created.session.model,
    text: events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join(''),
    output_text: done.output[0]?.content?.[0]?.text,
    status: done.status,
    events: types(events),
    errors: connection.errors,
  };
}

/** (b) A tool round: the user names a session tool with JSON arguments, the "model" calls it, the app answers. */
async function tool() {
  const connection = await connect('sk-test');
  const { rt, queue } = connection;
  rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'], tools: TOOLS } });
  await queue.until('session.updated');
  rt.send(userMessage('What is the weather in Oslo? use get_weather with {"city": "Oslo"}'));
  rt.send({ type: 'response.create' });
  const first = (await queue.until('response.done')).at(-1).response;
  const call = first.output.find((item) => item.type === 'function_call');
  check(call, `the model answered without calling the tool: ${JSON.stringify(first.output)}`);
  rt.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: call.call_id, output: 'Sunny, 21 C' } });
  rt.send({ type: 'response.create' });
  const events = await queue.until('response.done');
  await close(connection);
  const answer = events.at(-1).response;
  return {
    call: { name: call.name, arguments: JSON.parse(call.arguments), call_id: call.call_id, status: call.status },
    answer: answer.output[0]?.content?.[0]?.text,
    status: answer.status,
    errors: connection.errors,
  };
}

/** (c) An audio turn: speech appended in chunks, turned into a user turn by the server's VAD, transcribed,
 * and answered with audio. */
async function audio() {
  const speech = readFileSync(setting('speech', 'REALTIME_MOCK_SPEECH'));
  const connection = await connect('sk-test');
  const { rt, queue } = connection;
  rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'whisper-1' } } } } });
  await queue.until('session.updated');
  const chunk = 4800; // 100 ms of PCM16 at 24 kHz
  for (let offset = 0; offset < speech.length; offset += chunk) {
    rt.send({ type: 'input_audio_buffer.append', audio: speech.subarray(offset, offset + chunk).toString('base64') });
  }
  await queue.until('conversation.item.input_audio_transcription.completed', 'response.done', 6000);
  await close(connection);
  const all = queue.events;
  const done = all.find((e) => e.type === 'response.done').response;
  const audioBytes = all.filter((e) => e.type === 'response.output_audio.delta')
    .reduce((sum, e) => sum + Buffer.from(e.delta, 'base64').length, 0);
  return {
    transcript: all.find((e) => e.type === 'conversation.item.input_audio_transcription.completed').transcript,
    input_events: types(all).filter((t) => t.startsWith('input_audio_buffer.')),
    answer_transcript: all.filter((e) => e.type === 'response.output_audio_transcript.delta').map((e) => e.delta).join(''),
    output_audio_bytes: audioBytes,
    output_audio_deltas: all.filter((e) => e.type === 'response.output_audio.delta').length,
    status: done.status,
    errors: connection.errors,
  };
}

/** (d) A client secret minted over plain http, then a session opened with its `ek_` key (and a made-up one refused). */
async function secret() {
  const http = new OpenAI({ apiKey: 'sk-test', baseURL: setting('http-base-url', 'REALTIME_MOCK_HTTP_BASE_URL'),
    maxRetries: 0, timeout: 4000 });
  const minted = await http.realtime.clientSecrets.create({ session: { type: 'realtime', model: 'gpt-realtime' } });
  check(minted.value?.startsWith('ek_'), `not an ek_ key: ${JSON.stringify(minted)}`);
  const connection = await connect(minted.value);
  await close(connection);
  const made_up = await connect('ek_made_up', false);
  const refused = await made_up.queue.until('close', 4000);
  return {
    key_prefix: minted.value.slice(0, 3),
    expires_at: minted.expires_at,
    minted_session: { type: minted.session?.type, model: minted.session?.model },
    session: { type: connection.created.session.type, model: connection.created.session.model },
    errors: connection.errors,
    made_up_key: { events: types(refused), error: refused.find((e) => e.type === 'error')?.error?.code,
      close: refused.at(-1).code },
  };
}

run(async () => {
  observed.sdk = `openai@${VERSION}`;
  observed.node = process.version;
  observed.parts = {};
  const wanted = setting('parts', 'REALTIME_MOCK_PARTS', Object.keys(PARTS).join(',')).split(',');
  for (const name of wanted) {
    check(PARTS[name], `unknown part "${name}" (known: ${Object.keys(PARTS)})`);
    observed.step = name;
    observed.parts[name] = await PARTS[name]();
  }
  observed.step = 'done';
}, 9000);
