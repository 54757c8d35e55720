import { type Html, html, raw } from './html';

export interface DailyPoint {
  date: string;
  deployments: number;
  failures: number;
}

const WIDTH = 720;
const HEIGHT = 160;
const PAD = { left: 28, right: 8, top: 10, bottom: 22 };

/**
 * Daily deployments (and failed changes) as an inline SVG bar chart, drawn on the server: no
 * charting library to download, readable without script, with a text alternative.
 */
export function dailyChart(daily: DailyPoint[]): Html {
  const max = Math.max(1, ...daily.map((d) => Math.max(d.deployments, d.failures)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, daily.length);
  const bar = Math.max(1, slot * 0.36);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const total = daily.reduce((n, d) => n + d.deployments, 0);
  const failed = daily.reduce((n, d) => n + d.failures, 0);
  const first = daily[0]?.date ?? '';
  const last = daily.at(-1)?.date ?? '';
  const bars = daily.map((d, i) => {
    const x = PAD.left + i * slot + slot / 2;
    return html`<g><title>${d.date}: ${d.deployments} deployment(s), ${d.failures} failure(s)</title>${
      d.deployments > 0
        ? raw(
            `<rect x="${(x - bar).toFixed(1)}" y="${y(d.deployments).toFixed(1)}" width="${bar.toFixed(1)}" height="${(PAD.top + plotH - y(d.deployments)).toFixed(1)}" rx="1.5" fill="#3353c8"/>`,
          )
        : ''
    }${
      d.failures > 0
        ? raw(
            `<rect x="${x.toFixed(1)}" y="${y(d.failures).toFixed(1)}" width="${bar.toFixed(1)}" height="${(PAD.top + plotH - y(d.failures)).toFixed(1)}" rx="1.5" fill="#c5483f"/>`,
          )
        : ''
    }</g>`;
  });
  const grid = [0, max / 2, max].map((v) =>
    raw(
      `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e6eb"/><text x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="10" fill="#5d6675">${Number.isInteger(v) ? v : v.toFixed(1)}</text>`,
    ),
  );
  return html`<figure class="chart card">
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${`Deployments per day from ${first} to ${last}: ${total} deployment(s), ${failed} failure(s)`}">
${grid}${bars}
<text x="${PAD.left}" y="${HEIGHT - 6}" font-size="10" fill="#5d6675">${first}</text>
<text x="${WIDTH - PAD.right}" y="${HEIGHT - 6}" font-size="10" fill="#5d6675" text-anchor="end">${last}</text>
</svg>
<figcaption class="legend">Per day, ${first} to ${last}<i class="sw-deploy"></i>deployments<i class="sw-fail"></i>failed changes</figcaption>
</figure>`;
}
