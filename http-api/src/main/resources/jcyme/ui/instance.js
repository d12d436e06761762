// One instance: live stats (every 2 s), the worker log that follows, its queues, and what can be done to it.
import { api } from './api.js';
import { duration, enc, h, kib, note, replace, sleep, stateBadge, table } from './util.js';

const REFRESH_MS = 2000;
const LOG_LINES = 200;
const LOG_KEEP = 5000;

export default function instance(root, signal, app, name) {
  const base = `/${enc(app)}/instances/${enc(name)}`;
  const header = h('div', { class: 'title' }, h('h1', null, h('span', { class: 'muted' }, `${app} / `), name));
  const message = h('p', { id: 'action-message', class: 'message', role: 'status' });
  const summary = h('div', { id: 'instance-summary' }, note('Loading…'));
  const stats = h('div', { id: 'stats' });
  const queues = h('div', { id: 'queues' });
  const log = h('pre', { id: 'log', class: 'log', tabindex: 0 });
  const follow = h('span', { id: 'log-follow', class: 'muted' }, 'following');
  const minInput = h('input', { type: 'number', id: 'autoscale-min', min: 0, max: 256, required: true });
  const maxInput = h('input', { type: 'number', id: 'autoscale-max', min: 1, max: 256, required: true });
  const queueInput = h('input', { id: 'bind-queue', placeholder: 'queue name', required: true, list: 'app-queues' });
  const appQueues = h('datalist', { id: 'app-queues' });
  let formFilled = false;

  async function act(label, method, path, params) {
    replace(message, `${label}…`);
    message.className = 'message';
    try {
      const answer = await api(base + path, { method, params });
      replace(message, `${label}: done`);
      await refresh();
      return answer;
    } catch (e) {
      replace(message, `${label} failed: ${e.message}`);
      message.className = 'message error';
      return undefined;
    }
  }

  const button = (id, label, onclick, kind = '') => h('button', { id, class: kind, type: 'button', onclick }, label);
  const actions = h('div', { class: 'actions' },
    button('restart', 'Restart', () => act('restart', 'POST', '/restart')),
    button('enable', 'Enable', () => act('enable', 'POST', '/enable')),
    button('disable', 'Disable', () => act('disable', 'POST', '/disable')),
    button('delete', 'Delete', async () => {
      if (!window.confirm(`Delete instance ${name} of ${app}? Its worker stops and its directory is removed.`)) return;
      replace(message, 'deleting…');
      try {
        await api(base, { method: 'DELETE' });
        location.hash = '#/';
      } catch (e) {
        replace(message, `delete failed: ${e.message}`);
        message.className = 'message error';
      }
    }, 'danger'));

  const autoscaleForm = h('form', { id: 'autoscale-form', class: 'inline',
    onsubmit: async (event) => {
      event.preventDefault();
      const answer = await act('autoscale', 'PUT', '/autoscale', { min: minInput.value, max: maxInput.value });
      if (answer) replace(message, `autoscale: ${answer.min}–${answer.max}, pool now ${answer.current}`);
    } },
  h('label', null, 'min ', minInput), h('label', null, 'max ', maxInput), h('button', { type: 'submit', id: 'autoscale-submit' }, 'Set autoscale'));

  const bindForm = h('form', { id: 'bind-form', class: 'inline',
    onsubmit: async (event) => {
      event.preventDefault();
      const queue = queueInput.value.trim();
      if (await act(`bind ${queue}`, 'POST', `/queues/${enc(queue)}`)) queueInput.value = '';
    } },
  queueInput, appQueues, h('button', { type: 'submit', id: 'bind-submit' }, 'Bind'));

  root.append(header, actions, message,
    h('div', { class: 'columns' },
      h('div', null,
        h('section', null, h('h2', null, 'Instance'), summary),
        h('section', null, h('h2', null, 'Live stats'), stats, h('h3', null, 'Autoscale'), autoscaleForm),
        h('section', null, h('h2', null, 'Queues'), queues, bindForm)),
      h('section', { class: 'log-section' }, h('h2', null, 'Log ', follow), log)));

  async function refresh() {
    let info;
    try {
      info = await api(base);
    } catch (e) {
      replace(summary, note(e.message, 'error'));
      replace(stats);
      return;
    }
    replace(summary, h('dl', { class: 'facts' },
      fact('state', [stateBadge(info.state), info.is_enabled ? '' : ' (disabled)']),
      fact('branch', info.branch), fact('pid', info.pid ?? '–'), fact('restarts', info.restarts),
      fact('started', info.started_at ? new Date(info.started_at).toLocaleString() : '–'),
      fact('pool', info.pool), fact('directory', info.dir)));
    if (info.state !== 'RUNNING') {
      replace(stats, note(`No live stats while the instance is ${info.state}.`));
      replace(queues, note(`Configured: ${info.queues.join(', ') || 'none'}`));
      return;
    }
    const [live, bound, declared] = await Promise.all([
      api(`${base}/stats`).catch((e) => ({ error: e.message })),
      api(`${base}/queues`).catch((e) => ({ error: e.message })),
      api(`/${enc(app)}/queues`).catch(() => []),
    ]);
    showStats(live);
    showQueues(bound);
    replace(appQueues, declared.map((q) => h('option', { value: q })));
  }

  function showStats(live) {
    if (live.error) {
      replace(stats, note(live.error, 'error'));
      return;
    }
    const scaler = live.autoscaler ?? {};
    if (!formFilled && live.autoscaler) {
      minInput.value = scaler.min;
      maxInput.value = scaler.max;
      formFilled = true;
    }
    const totals = Object.entries(live.total ?? {});
    replace(stats,
      h('dl', { class: 'facts' },
        fact('pool', h('span', { id: 'pool' }, `${scaler.current ?? live.pool?.['max-concurrency']} threads (autoscale ${scaler.min ?? '–'}–${scaler.max ?? '–'})`)),
        fact('waiting', scaler.qty ?? '–'),
        fact('active', live.active ?? '–'),
        fact('processed', totals.reduce((sum, [, n]) => sum + n, 0)),
        fact('failed', live.failed ?? '–'),
        fact('prefetch', live.prefetch_count ?? '–'),
        fact('RSS', kib(live.rusage?.rss)),
        fact('CPU time', live.rusage?.utime == null ? '–' : `${live.rusage.utime.toFixed(1)} s`),
        fact('uptime', duration(live.uptime))),
      totals.length ? table(['task', 'count'], totals.map(([task, n]) => h('tr', null, h('td', null, task), h('td', { class: 'num' }, n))), { class: 'grid small' }) : null);
  }

  function showQueues(bound) {
    if (bound.error) {
      replace(queues, note(bound.error, 'error'));
      return;
    }
    const names = Object.keys(bound).sort();
    replace(queues, table(['queue', 'exchange', 'routing key', ''], names.map((q) => h('tr', { 'data-queue': q },
      h('td', null, q), h('td', null, `${bound[q].exchange ?? ''} (${bound[q].exchange_type ?? ''})`),
      h('td', null, bound[q].routing_key ?? ''),
      h('td', null, q === `dq.${name}` ? h('span', { class: 'muted' }, 'private') : h('button', { type: 'button', class: 'small', 'data-unbind': q,
        onclick: () => act(`unbind ${q}`, 'DELETE', `/queues/${enc(q)}`) }, 'Unbind')))), { class: 'grid small' }));
  }

  (async () => {
    while (!signal.aborted) {
      await refresh();
      await sleep(REFRESH_MS, signal);
    }
  })();
  followLog(base, log, follow, signal);
}

function fact(label, value) {
  return [h('dt', null, label), h('dd', null, value)];
}

/** Polls the log's last lines and appends the ones not shown yet; stays at the bottom unless scrolled up. */
async function followLog(base, log, follow, signal) {
  let shown = [];
  log.addEventListener('scroll', () => {
    follow.textContent = atBottom(log) ? 'following' : 'paused — scroll to the bottom to follow';
  });
  while (!signal.aborted) {
    try {
      const text = await api(`${base}/log`, { params: { lines: LOG_LINES }, text: true, signal });
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      const fresh = lines.slice(overlap(shown, lines));
      if (fresh.length) {
        const stick = atBottom(log);
        log.append(fresh.map((line) => `${line}\n`).join(''));
        shown = shown.concat(fresh).slice(-LOG_LINES);
        while (log.childNodes.length > LOG_KEEP / LOG_LINES) log.firstChild.remove();
        if (stick) log.scrollTop = log.scrollHeight;
      }
    } catch (e) {
      if (signal.aborted) return;
      follow.textContent = `log unavailable: ${e.message}`;
    }
    await sleep(REFRESH_MS, signal);
  }
}

function atBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 8;
}

/** How many lines at the start of `next` are the last lines of `shown` (the longest such run). */
function overlap(shown, next) {
  for (let n = Math.min(shown.length, next.length); n > 0; n--) {
    let same = true;
    for (let i = 0; i < n && same; i++) same = shown[shown.length - n + i] === next[i];
    if (same) return n;
  }
  return 0;
}
