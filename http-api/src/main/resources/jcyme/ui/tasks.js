// Task history: a search (Flower's q syntax) with filters, and one task in full.
import { api } from './api.js';
import { enc, h, json, note, pretty, replace, runtime, shorten, sleep, stateBadge, table, when } from './util.js';

const STATES = ['', 'PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'RETRY', 'REVOKED'];
const REFRESH_MS = 3000;
const UNAVAILABLE = 'Task history is not available on this branch (it has no GET /<app>/tasks).';

async function appPicker(current, target) {
  const apps = await api('/').catch(() => []);
  const select = h('select', { id: 'task-app', onchange: () => { location.hash = target(select.value); } },
    current ? null : h('option', { value: '' }, 'choose an app'),
    apps.map((app) => h('option', { value: app, selected: app === current }, app)));
  return { apps, select };
}

export async function taskList(root, signal, app, query) {
  const { apps, select } = await appPicker(app, (a) => `#/tasks/${enc(a)}`);
  if (!app) {
    root.append(h('h1', null, 'Tasks'), apps.length ? h('p', null, 'App: ', select) : note('No apps yet.'));
    if (apps.length === 1) location.hash = `#/tasks/${enc(apps[0])}`;
    return;
  }
  const field = (id, value, attrs = {}) => h('input', { id, name: id, value: value ?? '', ...attrs });
  const q = field('q', query.get('q'), { type: 'search', placeholder: 'name:tasks.add state:FAILURE args:42 …', size: 40 });
  const state = h('select', { id: 'state', name: 'state' },
    STATES.map((s) => h('option', { value: s, selected: s === (query.get('state') ?? '') }, s || 'any state')));
  const name = field('name', query.get('name'), { placeholder: 'task name' });
  const worker = field('worker', query.get('worker'), { placeholder: 'worker' });
  const live = h('input', { type: 'checkbox', id: 'live', checked: true });
  const results = h('div', { id: 'task-results' }, note('Loading…'));
  const form = h('form', { id: 'task-search', class: 'inline', onsubmit: (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, input] of Object.entries({ q, state, name, worker })) if (input.value) params.set(key, input.value);
    const hash = `#/tasks/${enc(app)}${params.toString() ? `?${params}` : ''}`;
    if (location.hash === hash) load(); else location.hash = hash;
  } }, q, state, name, worker, h('button', { type: 'submit', id: 'task-search-submit' }, 'Search'),
  h('label', null, live, ' live'));
  root.append(h('h1', null, 'Tasks of ', select), form, results);

  async function load() {
    try {
      const answer = await api(`/${enc(app)}/tasks`, { params: {
        q: query.get('q'), state: query.get('state'), name: query.get('name'), worker: query.get('worker'), limit: 200,
      } });
      replace(results,
        h('p', { class: 'muted', id: 'task-total' }, `${answer.total} task${answer.total === 1 ? '' : 's'}${answer.total > answer.tasks.length ? `, newest ${answer.tasks.length} shown` : ''}`),
        table(['task id', 'name', 'state', 'worker', 'received', 'runtime', 'args', 'result / exception'],
          answer.tasks.map((t) => h('tr', { 'data-task': t.id },
            h('td', null, h('a', { href: `#/task/${enc(app)}/${enc(t.id)}`, class: 'mono' }, t.id.slice(0, 8))),
            h('td', null, t.name),
            h('td', { class: 'state-cell' }, stateBadge(t.state)),
            h('td', null, t.instance ?? t.worker ?? '–'),
            h('td', null, when(t.received)),
            h('td', { class: 'num' }, runtime(t.runtime)),
            h('td', { class: 'mono' }, shorten(json(t.args))),
            h('td', { class: t.exception ? 'mono error' : 'mono' }, shorten(t.exception ?? json(t.result))))),
          { class: 'grid', id: 'task-table' }));
      return true;
    } catch (e) {
      replace(results, note(e.missingRoute ? UNAVAILABLE : e.message, e.missingRoute ? 'note unavailable' : 'error'));
      return !e.missingRoute;
    }
  }

  while (!signal.aborted && await load()) {
    do await sleep(REFRESH_MS, signal); while (!signal.aborted && !live.checked);
  }
}

export async function taskDetail(root, signal, app, id) {
  root.append(h('p', null, h('a', { href: `#/tasks/${enc(app)}` }, `← tasks of ${app}`)));
  const box = h('div', { id: 'task-detail' }, note('Loading…'));
  root.append(box);
  while (!signal.aborted) {
    let task;
    try {
      task = await api(`/${enc(app)}/tasks/${enc(id)}`);
    } catch (e) {
      replace(box, note(e.missingRoute ? UNAVAILABLE : e.message, e.missingRoute ? 'note unavailable' : 'error'));
      return;
    }
    replace(box,
      h('h1', null, task.name, ' ', stateBadge(task.state)),
      h('dl', { class: 'facts' },
        fact('id', h('span', { class: 'mono' }, task.id)),
        fact('worker', [task.worker ?? '–', task.instance ? ` (instance ${task.instance})` : '']),
        fact('received', when(task.received)), fact('started', when(task.started)), fact('finished', when(task.finished)),
        fact('runtime', runtime(task.runtime)), fact('retries', task.retries ?? 0)),
      h('h2', null, 'Arguments'),
      h('pre', { id: 'task-args' }, `args   ${readable(task.args)}\nkwargs ${readable(task.kwargs)}`),
      task.exception
        ? [h('h2', null, 'Exception'), h('pre', { id: 'task-exception', class: 'error' }, task.exception),
          task.traceback ? [h('h2', null, 'Traceback'), h('pre', { id: 'task-traceback' }, task.traceback)] : null]
        : [h('h2', null, 'Result'), h('pre', { id: 'task-result' }, pretty(task.result))],
      task.events?.length ? [h('h2', null, 'Events'), table(['event', 'time', 'host'], task.events.map((e) => h('tr', null,
        h('td', null, e.type), h('td', null, e.timestamp ? new Date(e.timestamp * 1000).toLocaleString() : '–'),
        h('td', null, e.hostname ?? ''))), { class: 'grid small', id: 'task-events' })] : null);
    if (['SUCCESS', 'FAILURE', 'REVOKED'].includes(task.state)) return;
    await sleep(REFRESH_MS, signal);
  }
}

/** JSON on one line when it fits, indented when it does not. */
function readable(value) {
  const line = json(value);
  return line.length > 100 ? pretty(value) : line;
}

function fact(label, value) {
  return [h('dt', null, label), h('dd', null, value)];
}
