// The dashboard's shell: hash routes (#/, #/instance/<app>/<name>, #/tasks/<app>?..., #/task/<app>/<id>,
// #/charts/<app>), each a page that mounts into <main> and returns what stops its timers and streams.
import { forgetToken, token } from './api.js';
import { h, replace } from './util.js';
import overview from './overview.js';
import instance from './instance.js';
import { taskList, taskDetail } from './tasks.js';
import charts from './charts.js';

// Errors no page caught: shown, and kept where a test (or a curious operator) can read them.
window.jcymeErrors = [];
function problem(text) {
  window.jcymeErrors.push(text);
  const box = document.getElementById('problem');
  box.hidden = false;
  box.textContent = `Dashboard error: ${text}`;
}
window.addEventListener('error', (event) => problem(event.message));
window.addEventListener('unhandledrejection', (event) => problem(event.reason?.message ?? String(event.reason)));

const routes = [
  [/^\/?$/, () => overview],
  [/^\/instance\/([^/]+)\/([^/]+)$/, ([app, name]) => (root, signal) => instance(root, signal, app, name)],
  [/^\/tasks(?:\/([^/]+))?$/, ([app], query) => (root, signal) => taskList(root, signal, app, query)],
  [/^\/task\/([^/]+)\/([^/]+)$/, ([app, id]) => (root, signal) => taskDetail(root, signal, app, id)],
  [/^\/charts(?:\/([^/]+))?$/, ([app]) => (root, signal) => charts(root, signal, app)],
];

let current = null;

function show() {
  current?.abort();
  current = new AbortController();
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, search] = hash.split('?');
  const query = new URLSearchParams(search ?? '');
  const root = document.getElementById('page');
  for (const link of document.querySelectorAll('[data-nav]')) {
    const section = path.split('/')[1] || 'overview';
    link.classList.toggle('active', link.dataset.nav === section || (section === 'instance' && link.dataset.nav === 'overview')
      || (section === 'task' && link.dataset.nav === 'tasks'));
  }
  for (const [pattern, page] of routes) {
    const match = pattern.exec(path);
    if (match) {
      const params = match.slice(1).map((part) => (part == null ? null : decodeURIComponent(part)));
      replace(root);
      page(params, query)(root, current.signal);
      return;
    }
  }
  replace(root, h('h1', null, 'Not found'), h('p', null, 'No such page: ', h('code', null, hash), '. ', h('a', { href: '#/' }, 'Overview')));
}

function showToken() {
  const box = document.getElementById('token-state');
  replace(box, token() ? [h('span', null, 'token set · '),
    h('button', { class: 'link', id: 'forget-token', onclick: () => { forgetToken(); location.reload(); } }, 'forget')] : null);
}

document.getElementById('token-dialog').addEventListener('cancel', (event) => event.preventDefault());
document.addEventListener('jcyme:token', showToken);
window.addEventListener('hashchange', show);
showToken();
show();
