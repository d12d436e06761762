// The cluster from this branch: every branch, every app, every instance with its live stats. Refreshed every 5 s.
import { api } from './api.js';
import { duration, enc, h, kib, note, replace, sleep, stateBadge, table } from './util.js';

const REFRESH_MS = 5000;

export default async function overview(root, signal) {
  const branches = h('div', { id: 'branches' }, note('Loading…'));
  const apps = h('div', { id: 'apps' }, note('Loading…'));
  const instances = h('div', { id: 'instances' }, note('Loading…'));
  root.append(
    h('section', null, h('h2', null, 'Branches'), branches),
    h('section', null, h('h2', null, 'Apps'), apps),
    h('section', null, h('h2', null, 'Instances'), instances));
  while (!signal.aborted) {
    await Promise.all([
      showBranches(branches).catch((e) => replace(branches, note(e.message, 'error'))),
      showAppsAndInstances(apps, instances).catch((e) => replace(instances, note(e.message, 'error'))),
    ]);
    await sleep(REFRESH_MS, signal);
  }
}

async function showBranches(box) {
  const ids = await api('/branches');
  const infos = await Promise.all(ids.map((id) => api(`/branches/${enc(id)}`).catch((e) => ({ id, error: e.message }))));
  replace(box, table(['branch', 'url', 'load 1m / 5m / 15m', 'disk used', 'instances', 'by state', 'started'],
    infos.map((b) => b.error
      ? h('tr', { 'data-branch': b.id }, h('td', null, b.id), h('td', { colspan: 6, class: 'error' }, b.error))
      : h('tr', { 'data-branch': b.id },
        h('td', null, b.id),
        h('td', null, b.url),
        h('td', { class: 'num' }, (b.load ?? []).map((x) => x.toFixed(2)).join(' / ')),
        h('td', { class: 'num' }, b.disk_used_pct == null ? '–' : `${b.disk_used_pct.toFixed(1)} %`),
        h('td', { class: 'num' }, b.instances),
        h('td', null, Object.entries(b.instance_states ?? {}).map(([state, n]) => h('span', { class: 'count' }, stateBadge(state), ` ${n}`))),
        h('td', null, b.started_at ? new Date(b.started_at).toLocaleString() : '–'))),
    { class: 'grid' }));
}

async function showAppsAndInstances(appBox, instanceBox) {
  const names = await api('/');
  const perApp = await Promise.all(names.map(async (app) => {
    try {
      const instanceNames = await api(`/${enc(app)}/instances`);
      return { app, rows: await Promise.all(instanceNames.map((name) => instanceRow(app, name))) };
    } catch (e) {
      return { app, error: e.message, rows: [] };
    }
  }));
  replace(appBox, names.length === 0 ? note('No apps yet: PUT /<app> makes one.') : h('ul', { class: 'apps' },
    perApp.map(({ app, rows, error }) => h('li', { 'data-app': app },
      h('strong', null, app), ` · ${rows.length} instance${rows.length === 1 ? '' : 's'} · `,
      h('a', { href: `#/tasks/${enc(app)}` }, 'tasks'), ' · ',
      h('a', { href: `#/charts/${enc(app)}` }, 'charts'),
      error ? h('span', { class: 'error' }, ` ${error}`) : null))));
  const rows = perApp.flatMap((a) => a.rows);
  replace(instanceBox, rows.length === 0 ? note('No instances.') : table(
    ['app', 'instance', 'branch', 'state', 'pid', 'pool now (min–max)', 'active', 'processed', 'failed', 'RSS', 'uptime', 'queues'],
    rows, { class: 'grid', id: 'instance-table' }));
}

async function instanceRow(app, name) {
  const link = h('a', { href: `#/instance/${enc(app)}/${enc(name)}` }, name);
  let instance;
  try {
    instance = await api(`/${enc(app)}/instances/${enc(name)}`);
  } catch (e) {
    return h('tr', { 'data-instance': `${app}/${name}` }, h('td', null, app), h('td', null, link),
      h('td', { colspan: 10, class: 'error' }, e.message));
  }
  const stats = instance.state === 'RUNNING'
    ? await api(`/${enc(app)}/instances/${enc(name)}/stats`).catch(() => null) : null;
  const scaler = stats?.autoscaler;
  const processed = stats ? Object.values(stats.total ?? {}).reduce((a, b) => a + b, 0) : null;
  return h('tr', { 'data-instance': `${app}/${name}` },
    h('td', null, app),
    h('td', null, link),
    h('td', null, instance.branch),
    h('td', { class: 'state-cell' }, stateBadge(instance.state), instance.is_enabled ? null : h('span', { class: 'muted' }, ' disabled')),
    h('td', { class: 'num' }, instance.pid ?? '–'),
    h('td', { class: 'num pool' }, scaler ? `${scaler.current} (${scaler.min}–${scaler.max})`
      : `– (${instance.min_concurrency}–${instance.max_concurrency})`),
    h('td', { class: 'num' }, stats?.active ?? '–'),
    h('td', { class: 'num processed' }, processed ?? '–'),
    h('td', { class: 'num' }, stats?.failed ?? '–'),
    h('td', { class: 'num' }, stats ? kib(stats.rusage?.rss) : '–'),
    h('td', { class: 'num' }, stats ? duration(stats.uptime) : '–'),
    h('td', null, instance.queues.join(', ')));
}
