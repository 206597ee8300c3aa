// The JavaScript Agents SDK (`@openai/agents-realtime`) against realtime-mock, in its DEFAULT configuration:
// only the URL and the key are given, as an app changes nothing else to use the mock. A voice agent with
// instructions and one tool is asked to use it; the tool must run and the agent must answer from its result.
//
// Settings (argument or environment variable):
//   --url      REALTIME_MOCK_URL   ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime (plain ws works here)
//   --api-key  OPENAI_API_KEY      default sk-test
// Prints one JSON line of what it observed; exits 1 on any failure, and within 9 s whatever happens.
//
//   node agents_realtime.mjs --url 'ws://127.0.0.1:8000/v1/realtime?model=gpt-realtime'

import { RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
import { z } from 'zod';

import { check, observed, run, setting, within } from './common.mjs';

const QUESTION = 'What is the weather in Oslo? use get_weather with {"city": "Oslo"}';

function summary(item) {
  const content = (item.content ?? []).map((part) => part.text ?? part.transcript ?? null);
  return { type: item.type, role: item.role, name: item.name, status: item.status, arguments: item.arguments,
    output: item.output, content };
}

run(async () => {
  observed.sdk = '@openai/agents-realtime@0.20.0';
  observed.node = process.version;
  observed.tool_calls = [];
  observed.server_events = [];
  observed.errors = [];
  const url = setting('url', 'REALTIME_MOCK_URL');

  const getWeather = tool({
    name: 'get_weather',
    description: 'The current weather in a city.',
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      observed.tool_calls.push({ city });
      return `foggy and 12 degrees in ${city}`;
    },
  });
  const agent = new RealtimeAgent({
    name: 'Weather',
    instructions: 'You answer questions about the weather. Use get_weather to look it up.',
    tools: [getWeather],
  });
  const session = new RealtimeSession(agent); // the default configuration: nothing changed

  let answered; // settles when the agent has answered after its tool ran, or answered without it
  const outcome = new Promise((resolve, reject) => { answered = { resolve, reject }; });
  session.on('error', ({ error }) => {
    const detail = error?.error ?? error;
    observed.errors.push({ code: detail?.code ?? null, param: detail?.param ?? null, message: detail?.message ?? String(detail) });
  });
  session.on('agent_tool_end', (_context, _agent, toolUsed, result) => {
    observed.tool_result = { name: toolUsed.name, result };
  });
  session.on('transport_event', (event) => {
    observed.server_events.push(event.type);
    if (event.type !== 'response.done') return;
    const output = event.response?.output ?? [];
    const calls = output.filter((item) => item.type === 'function_call');
    if (calls.length) {
      observed.function_calls = calls.map((item) => ({ name: item.name, arguments: item.arguments }));
    } else if (observed.tool_result) {
      observed.answer = output.map(summary);
      answered.resolve();
    } else if (observed.tool_calls.length === 0) {
      observed.answer_without_tool = output.map(summary);
      answered.reject(new Error('the agent answered without calling its tool'));
    }
  });

  observed.step = 'connect';
  await within(3000, 'connection', session.connect({ apiKey: setting('api-key', 'OPENAI_API_KEY', 'sk-test'), url }));
  observed.step = 'conversation';
  session.sendMessage(QUESTION);
  await within(7000, 'answer after the tool', outcome);
  // The agent's history settles as the last events arrive; give it a moment, then report it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  observed.history = session.history.map(summary);
  check(observed.tool_calls.length === 1 && observed.tool_calls[0].city === 'Oslo',
    `the tool ran with ${JSON.stringify(observed.tool_calls)}`);
  observed.step = 'close';
  session.close();
  observed.step = 'done';
}, 9000);
