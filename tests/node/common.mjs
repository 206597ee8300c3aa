// Helpers shared by the client scripts: settings from the arguments or the environment, one JSON line
// as the result, a watchdog so that nothing hangs, and a queue of server events to wait on.

/** `--name=value` (or `--name value`) from the command line, else the environment variable, else `fallback`. */
export function setting(name, envName, fallback = undefined) {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}` && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  const value = process.env[envName];
  if (value !== undefined && value !== '') return value;
  if (fallback === undefined) throw new Error(`missing --${name} (or the ${envName} environment variable)`);
  return fallback;
}

/** What the script saw; printed as one JSON line at the end, whatever happens. */
export const observed = { ok: false };
let finished = false;

function finish(ok, error) {
  if (finished) return;
  finished = true;
  observed.ok = ok;
  if (error !== undefined) {
    observed.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
  process.stdout.write(`${JSON.stringify(observed)}\n`, () => process.exit(ok ? 0 : 1));
}

/** Run `main` with a watchdog of `ms` over the whole script: exit 0 when it resolves, 1 when it throws or
 * times out (reporting the step it was at), always after printing the JSON line. */
export function run(main, ms) {
  const timer = setTimeout(() => finish(false, new Error(`timed out after ${ms} ms at step "${observed.step}"`)), ms);
  process.on('unhandledRejection', (reason) => finish(false, reason));
  process.on('uncaughtException', (error) => finish(false, error));
  main().then(() => finish(true), (error) => finish(false, error)).finally(() => clearTimeout(timer));
}

/** Reject after `ms` unless `promise` settles first. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Server events in arrival order (and `{type: "close", code, reason}` when the connection ends).
 * `until(...types)` gives the events not yet taken, up to the point where one of each type has come;
 * a close before that is an error. */
export class EventQueue {
  constructor() {
    this.events = [];
    this.read = 0;
    this.wake = () => {};
  }

  push(event) {
    this.events.push(event);
    this.wake();
  }

  until(...args) {
    const ms = typeof args.at(-1) === 'number' ? args.pop() : 5000;
    const missing = new Set(args);
    const from = this.read;
    return within(ms, `${args.join(' and ')} event`, (async () => {
      for (;;) {
        while (this.read < this.events.length) {
          const event = this.events[this.read++];
          missing.delete(event.type);
          if (missing.size === 0) return this.events.slice(from, this.read);
          if (event.type === 'close') {
            const errors = this.events.filter((e) => e.type === 'error').map((e) => e.error.code ?? e.error.message);
            throw new Error(`the connection closed (${event.code} ${event.reason}) before ${[...missing].join(', ')}`
              + (errors.length ? `; errors: ${errors.join(', ')}` : ''));
          }
        }
        await new Promise((resolve) => { this.wake = resolve; });
      }
    })());
  }
}
