// Live charts of one app: tasks/s succeeded and failed, counted from the branch's event stream, and
// the depth of the app's queues, polled every 2 s. Drawn with uPlot; nothing reloads.
import { api, followEvents } from './api.js';
import { enc, h, note, replace, sleep } from './util.js';

const WINDOW_S = 120;
const DEPTH_MS = 2000;
const COLORS = ['#1f77b4', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

export default async function charts(root, signal, app) {
  const apps = await api('/').catch(() => []);
  const select = h('select', { id: 'chart-app', onchange: () => { location.hash = `#/charts/${enc(select.value)}`; } },
    app ? null : h('option', { value: '' }, 'choose an app'),
    apps.map((a) => h('option', { value: a, selected: a === app }, a)));
  if (!app) {
    root.append(h('h1', null, 'Charts'), apps.length ? h('p', null, 'App: ', select) : note('No apps yet.'));
    if (apps.length === 1) location.hash = `#/charts/${enc(apps[0])}`;
    return;
  }
  const streamState = h('span', { id: 'stream-state', class: 'muted' }, 'connecting…');
  const counts = h('p', { class: 'muted' }, 'since opened: ', h('strong', { id: 'count-succeeded' }, '0'), ' succeeded · ',
    h('strong', { id: 'count-failed' }, '0'), ' failed');
  const taskChart = h('div', { id: 'task-chart', class: 'chart' });
  const depthState = h('span', { id: 'depth-state', class: 'muted' });
  const depthChart = h('div', { id: 'depth-chart', class: 'chart' });
  root.append(h('h1', null, 'Live charts of ', select),
    h('section', null, h('h2', null, 'Tasks per second ', streamState), counts, taskChart),
    h('section', null, h('h2', null, 'Queue depth ', depthState), depthChart));

  const plots = [];
  const onResize = () => plots.forEach((plot) => plot.setSize({ width: widthOf(plot.root.parentNode), height: 240 }));
  window.addEventListener('resize', onResize);
  signal.addEventListener('abort', () => {
    window.removeEventListener('resize', onResize);
    plots.forEach((plot) => plot.destroy());
  }, { once: true });

  taskRates(app, taskChart, streamState, signal, plots);
  queueDepths(app, depthChart, depthState, signal, plots);
}

function widthOf(el) {
  return Math.max(320, el.clientWidth);
}

function plot(el, title, series, plots) {
  const made = new window.uPlot({
    width: widthOf(el), height: 240,
    scales: {
      x: { time: true, range: (u, min, max) => [max - WINDOW_S, max] },   // always the last two minutes
      y: { range: (u, min, max) => [0, Math.max(1, max)] },
    },
    series: [{}, ...series.map((s, i) => ({ width: 2, stroke: s.color ?? COLORS[i % COLORS.length], ...s }))],
    axes: [{}, { label: title }],
  }, [[], ...series.map(() => [])], el);
  plots.push(made);
  return made;
}

/** Counts task.succeeded and task.failed of `app` per second, from GET /events/stream. */
function taskRates(app, el, state, signal, plots) {
  const chart = plot(el, 'tasks/s', [
    { label: 'succeeded/s', color: '#2e8b57', fill: 'rgba(46,139,87,0.12)' },
    { label: 'failed/s', color: '#c0392b', fill: 'rgba(192,57,43,0.12)' },
  ], plots);
  const data = [[], [], []];
  const current = new Map();   // second -> [succeeded, failed]
  const totals = [0, 0];
  const onEvent = (kind, event) => {
    const index = kind === 'task.succeeded' ? 0 : kind === 'task.failed' ? 1 : -1;
    if (index < 0 || event?.app !== app) return;
    const second = Math.floor(Date.now() / 1000);
    const bucket = current.get(second) ?? [0, 0];
    bucket[index]++;
    current.set(second, bucket);
    totals[index]++;
  };
  const onState = (what, detail) => {
    state.textContent = what === 'live' ? '· live'
      : what === 'unavailable' ? '· not available on this branch (no GET /events/stream)'
        : `· reconnecting (${detail})`;
    state.className = what === 'unavailable' ? 'unavailable' : 'muted';
  };
  followEvents({ onEvent, onState, signal });
  const timer = setInterval(() => {
    const second = Math.floor(Date.now() / 1000) - 1;   // the last whole second
    const bucket = current.get(second) ?? [0, 0];
    current.delete(second);
    for (const old of current.keys()) if (old < second) current.delete(old);
    data[0].push(second);
    data[1].push(bucket[0]);
    data[2].push(bucket[1]);
    while (data[0].length > WINDOW_S) data.forEach((column) => column.shift());
    chart.setData(data);
    document.getElementById('count-succeeded').textContent = totals[0];   // once a second, not once per event
    document.getElementById('count-failed').textContent = totals[1];
    el.dataset.plotted = [...data[1], ...data[2]].reduce((sum, n) => sum + n, 0);   // tasks drawn, for whoever checks
  }, 1000);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}

/** Polls GET /<app>/queues/<q>/depth for every queue the app declares. */
async function queueDepths(app, el, state, signal, plots) {
  let names;
  try {
    names = await api(`/${enc(app)}/queues`);
  } catch (e) {
    state.textContent = `· ${e.message}`;
    return;
  }
  if (names.length === 0) {
    replace(el, note('The app declares no queues (PUT /<app>/queues/<name>).'));
    return;
  }
  let chart = null;
  const data = [[], ...names.map(() => [])];
  while (!signal.aborted) {
    const answers = await Promise.all(names.map((q) => api(`/${enc(app)}/queues/${enc(q)}/depth`).catch((e) => e)));
    if (answers.some((a) => a?.missingRoute)) {
      state.textContent = '· not available on this branch (no GET /<app>/queues/<q>/depth)';
      state.className = 'unavailable';
      return;
    }
    const failed = answers.filter((a) => a instanceof Error);
    state.textContent = failed.length ? `· ${failed[0].message}` : '· every 2 s';
    state.className = failed.length ? 'error' : 'muted';
    chart ??= plot(el, 'messages', names.map((q) => ({ label: q })), plots);
    data[0].push(Date.now() / 1000);
    answers.forEach((a, i) => data[i + 1].push(a instanceof Error ? null : a.messages));
    while (data[0].length > WINDOW_S / 2) data.forEach((column) => column.shift());
    chart.setData(data);
    await sleep(DEPTH_MS, signal);
  }
}
