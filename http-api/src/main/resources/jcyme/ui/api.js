// Every call to the branch: same origin, with the bearer token when the branch wants one.
const TOKEN_KEY = 'jcyme.token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }

  /** A route this branch does not have (a part of the API it does not run yet): 404, or 405 where the path has other verbs. */
  get missingRoute() {
    return (this.status === 404 && this.message.startsWith('no such route')) || this.status === 405;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

let asking = null;

/** Asks for the token once, however many calls were refused at the same time. */
async function askToken(sent) {
  if (asking) return asking;
  if (token() !== sent) return undefined;   // another prompt already answered since this call was sent
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  document.getElementById('token-why').textContent = sent
    ? 'The branch refused that token. Enter the bearer token it was started with (--token).'
    : "Enter the branch's bearer token (--token). It is kept in this tab until you close it.";
  input.value = '';
  asking = new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      sessionStorage.setItem(TOKEN_KEY, input.value);
      asking = null;
      document.dispatchEvent(new Event('jcyme:token'));
      resolve();
    }, { once: true });
    dialog.showModal();
  });
  return asking;
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') message = body.error;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

/** fetch() with the token; asks for it on 401 and tries again. */
async function send(path, init = {}) {
  for (;;) {
    const sent = token();
    const response = await fetch(path, { cache: 'no-store', ...init, headers: headers(init.headers) });
    if (response.status !== 401) return response;
    await askToken(sent);
  }
}

function withQuery(path, params) {
  if (!params) return path;
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value != null && value !== '') query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** A call that answers JSON (or text with {text: true}); an error answer throws ApiError. */
export async function api(path, { method = 'GET', params, text = false, signal } = {}) {
  const response = await send(withQuery(path, params), { method, signal });
  if (!response.ok) throw await errorOf(response);
  return text ? response.text() : response.json();
}

/**
 * Follows GET /events/stream (Server-Sent Events) with fetch(), since EventSource cannot send the
 * token. Calls onEvent(kind, data, id) for each event and onState('live' | 'reconnecting' |
 * 'unavailable', detail); reconnects after a failure from the last id seen; ends when signal aborts.
 */
export async function followEvents({ onEvent, onState, signal }) {
  let last = null;
  while (!signal.aborted) {
    try {
      const response = await send(withQuery('/events/stream', { since: last }), {
        headers: { Accept: 'text/event-stream' }, signal,
      });
      if (!response.ok) {
        const error = await errorOf(response);
        if (error.status === 404) {
          onState('unavailable', error.message);
          return;
        }
        throw error;
      }
      onState('live');
      for await (const event of serverSentEvents(response.body, signal)) {
        if (event.id) last = event.id;
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          data = event.data;
        }
        onEvent(event.event, data, event.id);
      }
      if (signal.aborted) return;
      onState('reconnecting', 'the stream ended');
    } catch (error) {
      if (signal.aborted) return;
      onState('reconnecting', error.message);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** The events of a text/event-stream body, as {id, event, data}. */
async function* serverSentEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}), { once: true });
  let buffer = '';
  let event = { id: null, event: 'message', data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      if (line === '') {
        if (event.data.length) yield { id: event.id, event: event.event, data: event.data.join('\n') };
        event = { id: event.id, event: 'message', data: [] };
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') event.data.push(text);
        else if (field === 'event') event.event = text;
        else if (field === 'id') event.id = text;
      }
    }
  }
}
