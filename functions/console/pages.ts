import { type EnvironmentView, firstEnvironment } from '../domain/environments';
import { shortRef, shortSha } from '../domain/events';
import type { App, Build, Release } from '../domain/model';
import { SCRIPT, STYLESHEET } from './assets';
import { type DailyPoint, dailyChart } from './chart';
import { type Html, html } from './html';

/** What the pages need to know about who is looking. */
export interface Viewer {
  username: string;
  csrf: string;
}

export interface Metrics {
  days: number;
  deployments: number;
  deploymentsPerDay: number;
  leadTimeSeconds: { median: number; p90: number } | null;
  changeFailureRate: number | null;
  timeToRestoreSeconds: { median: number } | null;
  daily: DailyPoint[];
}

const ASSETS = '/console/assets';

export function layout(
  title: string,
  body: Html,
  options: { viewer?: Viewer; poll?: boolean; now?: Date } = {},
): string {
  const { viewer } = options;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · Slipway</title>
<link rel="stylesheet" href="${`${ASSETS}/console.${STYLESHEET.hash}.css`}">
<script src="${`${ASSETS}/console.${SCRIPT.hash}.js`}" defer></script>
</head><body${options.poll ? html` data-poll="page"` : ''}>
<header class="top"><a href="/console">Slipway</a>${
    viewer
      ? html`<span class="who">Signed in as <strong>${viewer.username}</strong></span>
<form method="post" action="/auth/logout"><input type="hidden" name="csrf" value="${viewer.csrf}"><button type="submit">Sign out</button></form>`
      : ''
  }</header>
<main>${body}</main>
</body></html>`.toString();
}

export function signInPage(): string {
  return layout(
    'Sign in',
    html`<div class="center card"><h1>Slipway</h1>
<p class="muted">Push to GitLab, get a live service. Sign in with your GitLab account to see the apps of the projects you can see.</p>
<a class="button primary" href="/auth/gitlab/login">Sign in with GitLab</a></div>`,
  );
}

/** A page that says what went wrong and what to do next. */
export function messagePage(
  title: string,
  message: string,
  action: { href: string; label: string },
  viewer?: Viewer,
): string {
  return layout(
    title,
    html`<div class="center card"><h1>${title}</h1><p>${message}</p>
<a class="button primary" href="${action.href}">${action.label}</a></div>`,
    viewer ? { viewer } : {},
  );
}

export interface AppRow {
  app: App;
  live?: Release;
  lastBuild?: Build;
}

export function appsPage(viewer: Viewer, rows: AppRow[], now: Date): string {
  const body = html`<h1>Your apps</h1>
<div id="apps" data-region>${
    rows.length === 0
      ? html`<div class="card empty">No apps yet that your GitLab role lets you see. Apps appear here for projects where you are at least a Reporter.</div>`
      : html`<table><caption>Apps</caption>
<thead><tr><th>App</th><th>Project</th><th>Live commit</th><th>Live since</th><th>Last build</th></tr></thead>
<tbody>${rows.map(
          ({ app, live, lastBuild }) => html`<tr>
<td><a href="${`/console/apps/${encodeURIComponent(app.name)}`}">${app.name}</a>${app.status === 'disabled' ? html` <span class="status">disabled</span>` : ''}</td>
<td class="muted">${app.project}</td>
<td>${live ? html`<span class="sha">${shortSha(live.commit)}</span>` : html`<span class="muted">nothing live yet</span>`}</td>
<td>${live?.liveAt ? timeAgo(live.liveAt, now) : html`<span class="muted">—</span>`}</td>
<td>${lastBuild ? statusPill(lastBuild.status) : html`<span class="muted">no builds</span>`}</td>
</tr>`,
        )}</tbody></table>`
  }</div>`;
  return layout('Apps', body, { viewer, poll: true });
}

export interface AppPageModel {
  app: App;
  live?: Release;
  releases: Release[];
  builds: Build[];
  metrics: Metrics;
  /** The app's environments, the first first; shown when there is more than one. */
  environments?: EnvironmentView[];
  canOperate: boolean;
  notice?: { kind: 'ok' | 'error'; text: string };
}

export function appPage(viewer: Viewer, model: AppPageModel, now: Date): string {
  const { app, live, releases, builds, metrics, canOperate } = model;
  const base = `/console/apps/${encodeURIComponent(app.name)}`;
  const liveCard = html`<div class="card" id="live" data-region>${
    live
      ? html`<div class="row"><div class="grow"><div class="muted">Live release${(model.environments?.length ?? 0) > 1 ? ` in ${firstEnvironment(app)}` : ''}</div>
<div><strong>${live.id}</strong> ${statusPill(live.status)} commit <span class="sha">${shortSha(live.commit)}</span>, live ${live.liveAt ? timeAgo(live.liveAt, now) : ''}</div></div></div>`
      : html`<div class="muted">Nothing is live yet.</div>`
  }</div>`;
  const environments = model.environments ?? [];
  const environmentsTable =
    environments.length > 1
      ? html`<div id="environments" data-region><table><caption>Environments</caption>
<thead><tr><th>Environment</th><th>Released by</th><th>Approval</th><th>Live release</th><th>URL</th></tr></thead>
<tbody>${environments.map(
          (e) => html`<tr>
<td><strong>${e.name}</strong></td>
<td>${triggerOf(e)}</td>
<td>${e.approval === 'maintainer' ? html`a Maintainer${e.selfApproval ? '' : html` <span class="muted">(not who asked)</span>`}` : html`<span class="muted">none</span>`}</td>
<td>${e.live ? html`<code>${e.live}</code>` : html`<span class="muted">nothing yet</span>`}</td>
<td>${e.url && /^https?:\/\//.test(e.url) ? html`<a href="${e.url}">${e.url}</a>` : html`<span class="muted">—</span>`}</td>
</tr>`,
        )}</tbody></table></div>`
      : '';
  const releasesTable = html`<div id="releases" data-region><table><caption>Releases</caption>
<thead><tr><th>Release</th><th>Status</th><th>Commit</th><th>Build</th><th>Created</th><th>Live at</th>${canOperate ? html`<th><span class="sr-only">Actions</span></th>` : ''}</tr></thead>
<tbody>${
    releases.length === 0
      ? html`<tr><td colspan="7" class="empty">No releases yet.</td></tr>`
      : releases.map(
          (r) => html`<tr>
<td><code>${r.id}</code>${r.rollbackOf ? html` <span class="muted">rollback to ${r.rollbackOf}</span>` : ''}${r.environment && r.environment !== firstEnvironment(app) ? html` <span class="muted">to ${r.environment}</span>` : ''}</td>
<td>${statusPill(r.status)}</td>
<td><span class="sha">${shortSha(r.commit)}</span></td>
<td><a href="${`${base}/builds/${encodeURIComponent(r.build)}`}"><code>${r.build}</code></a></td>
<td>${timeAgo(r.createdAt, now)}</td>
<td>${r.liveAt ? timeAgo(r.liveAt, now) : html`<span class="muted">—</span>`}</td>
${
  canOperate
    ? html`<td>${
        r.status === 'awaiting_approval'
          ? html`<button type="button" class="primary" data-open="approve-dialog" data-action="${`${base}/releases/${encodeURIComponent(r.id)}/approve`}" data-label="${`Approve release ${r.id} (commit ${shortSha(r.commit)}) to ${r.environment ?? ''}? It rolls out next.`}">Approve</button> <button type="button" data-open="reject-dialog" data-action="${`${base}/releases/${encodeURIComponent(r.id)}/reject`}" data-label="${`Reject release ${r.id} (commit ${shortSha(r.commit)}) to ${r.environment ?? ''}? Nothing rolls out.`}">Reject</button>`
          : r.liveAt && r.status !== 'live'
            ? html`<button type="button" data-open="rollback-dialog" data-action="${`${base}/releases/${encodeURIComponent(r.id)}/rollback`}" data-label="${`Roll back to release ${r.id} (commit ${shortSha(r.commit)})? It is copied forward as a new release with the same images.`}">Roll back</button>`
            : ''
      }</td>`
    : ''
}
</tr>`,
        )
  }</tbody></table></div>`;
  const buildsTable = html`<div id="builds" data-region><table><caption>Builds</caption>
<thead><tr><th>Build</th><th>Status</th><th>Commit</th><th>Ref</th><th>Message</th><th>Author</th><th>Started</th></tr></thead>
<tbody>${
    builds.length === 0
      ? html`<tr><td colspan="7" class="empty">No builds yet.</td></tr>`
      : builds.map(
          (b) => html`<tr>
<td><a href="${`${base}/builds/${encodeURIComponent(b.id)}`}"><code>${b.id}</code></a></td>
<td>${statusPill(b.status)}</td>
<td><span class="sha">${shortSha(b.commit)}</span></td>
<td>${shortRef(b.ref)}</td>
<td>${truncate(b.message, 70)}</td>
<td>${b.author}</td>
<td>${timeAgo(b.createdAt, now)}</td>
</tr>`,
        )
  }</tbody></table></div>`;
  const actions = canOperate
    ? html`<button type="button" class="primary" data-open="deploy-dialog">Deploy</button>
<dialog id="deploy-dialog" aria-labelledby="deploy-title"><form method="post" action="${`${base}/deploy`}">
<h2 id="deploy-title">Deploy ${app.name}</h2>
<input type="hidden" name="csrf" value="${viewer.csrf}">
<label for="deploy-ref">Ref</label>
<input type="text" id="deploy-ref" name="ref" value="${app.branch.includes('*') ? '' : app.branch}" placeholder="branch, tag or commit sha" required maxlength="255">
<p class="muted">Builds this ref from GitLab and releases it.</p>
<div class="actions"><button type="button" data-close>Cancel</button><button type="submit" class="primary">Confirm</button></div>
</form></dialog>
<dialog id="rollback-dialog" aria-labelledby="rollback-title"><form method="post" action="${base}">
<h2 id="rollback-title">Roll back ${app.name}</h2>
<input type="hidden" name="csrf" value="${viewer.csrf}">
<p data-fill>Roll back to this release?</p>
<div class="actions"><button type="button" data-close>Cancel</button><button type="submit" class="primary">Confirm</button></div>
</form></dialog>
<dialog id="approve-dialog" aria-labelledby="approve-title"><form method="post" action="${base}">
<h2 id="approve-title">Approve a release of ${app.name}</h2>
<input type="hidden" name="csrf" value="${viewer.csrf}">
<p data-fill>Approve this release?</p>
<div class="actions"><button type="button" data-close>Cancel</button><button type="submit" class="primary">Approve release</button></div>
</form></dialog>
<dialog id="reject-dialog" aria-labelledby="reject-title"><form method="post" action="${base}">
<h2 id="reject-title">Reject a release of ${app.name}</h2>
<input type="hidden" name="csrf" value="${viewer.csrf}">
<p data-fill>Reject this release?</p>
<label for="reject-reason">Reason (optional)</label>
<input type="text" id="reject-reason" name="reason" maxlength="500" placeholder="why it should not go out">
<div class="actions"><button type="button" data-close>Cancel</button><button type="submit" class="primary">Reject release</button></div>
</form></dialog>`
    : html`<span class="muted">You can see this app; deploying and rolling back need the Maintainer role in GitLab.</span>`;
  const body = html`<div class="crumbs"><a href="/console">Apps</a> / ${app.name}</div>
<div class="row"><h1 class="grow">${app.name}</h1>${actions}</div>
<p class="muted">${app.project} · builds ${shortRef(app.branch)}${app.tags ? html` and tags ${app.tags}` : ''} · ${app.mode}</p>
${model.notice ? html`<div class="${`notice ${model.notice.kind}`}" role="status">${model.notice.text}</div>` : ''}
${liveCard}
${environmentsTable}
<h2>Delivery, last ${metrics.days} days</h2>
${metricsFigures(metrics)}
${dailyChart(metrics.daily)}
${releasesTable}
${buildsTable}`;
  return layout(app.name, body, { viewer, poll: true });
}

function metricsFigures(m: Metrics): Html {
  const figure = (label: string, value: string, hint: string) =>
    html`<div class="figure"><div class="label">${label}</div><div class="value">${value}</div><div class="muted">${hint}</div></div>`;
  return html`<div class="figures" id="metrics" data-region>
${figure('Deployment frequency', `${round(m.deploymentsPerDay)}/day`, `${m.deployments} deployment(s)`)}
${figure('Lead time for changes', m.leadTimeSeconds ? duration(m.leadTimeSeconds.median) : '—', m.leadTimeSeconds ? `median; p90 ${duration(m.leadTimeSeconds.p90)}` : 'no pushes went live')}
${figure('Change failure rate', m.changeFailureRate === null ? '—' : `${round(m.changeFailureRate * 100)}%`, 'failed or rolled back')}
${figure('Time to restore', m.timeToRestoreSeconds ? duration(m.timeToRestoreSeconds.median) : '—', m.timeToRestoreSeconds ? 'median' : 'nothing to restore')}
</div>`;
}

export function buildPage(
  viewer: Viewer,
  app: App,
  build: Build,
  log: { lines: string[]; cursor: string; done: boolean },
  now: Date,
): string {
  const base = `/console/apps/${encodeURIComponent(app.name)}`;
  const body = html`<div class="crumbs"><a href="/console">Apps</a> / <a href="${base}">${app.name}</a> / build ${build.id}</div>
<h1>Build <code>${build.id}</code> <span id="build-status" class="${`status s-${build.status}`}">${build.status}</span></h1>
<div class="card"><div><span class="sha">${shortSha(build.commit)}</span> on ${shortRef(build.ref)} by ${build.author} · ${build.trigger} · started ${timeAgo(build.createdAt, now)}</div>
<div>${build.message}</div>${build.reason ? html`<div class="muted">${build.reason}</div>` : ''}</div>
<h2>Log</h2>
<pre class="log" id="log" aria-label="Build log" aria-live="polite" data-src="${`${base}/builds/${encodeURIComponent(build.id)}/log`}" data-cursor="${log.cursor}" data-done="${String(log.done)}">${log.lines.length ? `${log.lines.join('\n')}\n` : ''}</pre>`;
  return layout(`Build ${build.id}`, body, { viewer });
}

/** How an environment receives releases, in words. */
function triggerOf(env: EnvironmentView): Html {
  const parts = [
    ...(env.branch ? [`pushes to ${env.branch}`] : []),
    ...(env.tags ? [`tags ${env.tags}`] : []),
    ...(env.mergeRequest !== undefined ? [`merge request !${env.mergeRequest}`] : []),
    ...(env.reviewApps ? ['merge requests (the review apps’ template)'] : []),
  ];
  return parts.length > 0 ? html`${parts.join(', ')}` : html`<span class="muted">promotion</span>`;
}

export function statusPill(status: string): Html {
  return html`<span class="${`status s-${status}`}">${status}</span>`;
}

function truncate(text: string, max: number): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function round(n: number): string {
  return (Math.round(n * 100) / 100).toString();
}

/** "3 minutes ago", with the exact time for those who hover or read it out. */
export function timeAgo(iso: string, now: Date): Html {
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  const text = Number.isFinite(seconds) ? `${duration(seconds)} ago` : iso;
  return html`<time datetime="${iso}" title="${iso}">${text}</time>`;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.round((seconds / 3600) * 10) / 10} h`;
  return `${Math.round((seconds / 86_400) * 10) / 10} days`;
}
