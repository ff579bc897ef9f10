import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, post } from './api.js';
import { AppPage } from './pages/app.js';
import { AppsPage } from './pages/apps.js';
import { ClusterPage } from './pages/cluster.js';
import { LoginPage } from './pages/login.js';
import { LogsPage } from './pages/logs.js';
import { MetricsPage } from './pages/metrics.js';

/** Hash routes: #/cluster, #/apps, #/apps/:id, #/logs/:id, #/metrics/:id, #/login. */
function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').map((p) => decodeURIComponent(p));
  return { page: parts[0] || 'apps', id: parts[1] };
}

function App() {
  const [route, setRoute] = useState(parseRoute(location.hash));
  const [me, setMe] = useState(undefined);
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    api('/ui/api/me').then(setMe, () => setMe({ authRequired: true }));
    return () => removeEventListener('hashchange', on);
  }, []);
  if (!me) return html`<p>loading…</p>`;
  const needLogin = me.authRequired && !me.user;
  const logout = async () => {
    await post('/ui/api/logout').catch(() => {});
    setMe({ authRequired: true });
  };
  let page;
  if (needLogin || route.page === 'login') page = html`<${LoginPage} onLogin=${(m) => { setMe(m); location.hash = '#/apps'; }} />`;
  else if (route.page === 'cluster') page = html`<${ClusterPage} />`;
  else if (route.page === 'apps' && route.id) page = html`<${AppPage} appId=${route.id} key=${route.id} />`;
  else if (route.page === 'logs' && route.id) page = html`<${LogsPage} appId=${route.id} key=${route.id} />`;
  else if (route.page === 'metrics' && route.id) page = html`<${MetricsPage} appId=${route.id} key=${route.id} />`;
  else page = html`<${AppsPage} />`;
  return html`<header>
      <h1>Sluice</h1>
      <nav><a href="#/cluster">Cluster</a><a href="#/apps">Apps</a></nav>
      <span class="me">${me.user ? html`${me.user}${me.authRequired ? html` <button onClick=${logout}>log out</button>` : ''}` : ''}</span>
    </header>
    <main>${page}</main>`;
}

render(html`<${App} />`, document.getElementById('root'));
