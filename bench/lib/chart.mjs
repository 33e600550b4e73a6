// A dependency-free SVG grouped bar chart of requests/s: one group per scenario, one bar per target,
// value labels on the bars, horizontal grid lines and a legend. Failed or skipped runs have no bar.

import { NOISE_PERCENT } from './report.mjs';

const COLORS = { ours: '#2563eb', 'ours-pg': '#7c3aed', go: '#00a4c8', bare: '#16a34a' };
const EXTRA_COLORS = ['#9333ea', '#ea580c', '#64748b', '#db2777', '#0d9488', '#ca8a04', '#4f46e5', '#be123c', '#65a30d', '#0891b2', '#a16207', '#7e22ce', '#475569', '#c2410c'];

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** A "nice" axis: the smallest step of 1, 2, 2.5 or 5 × 10^n that covers `value` in at most 6 ticks. */
function niceAxis(value) {
  if (!(value > 0)) return { max: 1, step: 0.2 };
  const magnitude = 10 ** Math.floor(Math.log10(value / 6));
  for (const f of [1, 2, 2.5, 5, 10, 20]) {
    const step = f * magnitude;
    const ticks = Math.ceil(value / step);
    if (ticks <= 6) return { max: ticks * step, step };
  }
  return { max: value, step: value / 5 };
}

/** Joins items with " · " into lines of at most ~maxChars characters. */
function wrap(items, maxChars) {
  const lines = [];
  for (const item of items) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + 3 + item.length <= maxChars) lines[lines.length - 1] = `${last} · ${item}`;
    else lines.push(item);
  }
  return lines;
}

const compact = (n) => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`);

/** The SVG document (a string) for a results object of bench/run.mjs. */
export function renderChart(results) {
  const targets = results.targets.filter((t) => t.available);
  const scenarios = results.scenarios;
  const color = (t, i) => COLORS[t.name] ?? EXTRA_COLORS[i % EXTRA_COLORS.length];
  const run = (t, s) => {
    const r = t.scenarios?.[s.name];
    return r && !r.error ? r : null;
  };
  const rps = (t, s) => run(t, s)?.rps ?? null;
  const noisy = (t, s) => run(t, s)?.otherCpuPercent >= NOISE_PERCENT;
  const anyNoisy = targets.some((t) => scenarios.some((s) => noisy(t, s)));

  const barWidth = 30;
  const barGap = 4;
  const groupGap = 36;
  const groupWidth = Math.max(1, targets.length) * (barWidth + barGap) - barGap;
  const left = 78;
  const right = 24;
  const plotHeight = 300;
  const width = Math.max(760, left + right + scenarios.length * (groupWidth + groupGap));
  // Legend entries, wrapped into as many lines as the width needs (the layer run has a dozen targets or more).
  const legendText = (t) => (t.layer && t.runtime ? `${t.runtime}: ${t.label}` : t.label);
  const legend = [];
  let lx = left;
  let line = 0;
  for (const t of targets) {
    const w = 17 + legendText(t).length * 6.6 + 22;
    if (lx > left && lx + w > width - right) [lx, line] = [left, line + 1];
    legend.push({ x: lx, y: 58 + line * 18, text: legendText(t) });
    lx += w;
  }
  const top = 86 + line * 18;
  const footer = wrap(
    scenarios.map((s) => `${s.short ?? s.name} = ${s.label}`),
    Math.floor((width - left - right) / 6),
  );
  if (anyNoisy) footer.push(`* measured while other processes used ≥ ${NOISE_PERCENT} % of a core (noisy machine)`);
  const bottom = 40 + footer.length * 15;
  const height = top + plotHeight + bottom;
  const { max, step } = niceAxis(Math.max(0, ...targets.flatMap((t) => scenarios.map((s) => rps(t, s) ?? 0))) * 1.08);
  const y = (v) => top + plotHeight - (v / max) * plotHeight;

  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);

  const { meta } = results;
  parts.push(`<text x="${left}" y="26" font-size="16" font-weight="600" fill="#111827">Requests per second by scenario (higher is better)</text>`);
  parts.push(
    `<text x="${left}" y="46" fill="#4b5563">${escape(
      `${meta.date.slice(0, 16).replace('T', ' ')} UTC · ${meta.tool} · ${meta.options.connections} connections · ${meta.options.duration} s per scenario · ` +
        `${meta.options.seed} seeded todos · server on 1 core`,
    )}</text>`,
  );

  // Legend.
  targets.forEach((t, i) => {
    const { x, y: ly, text } = legend[i];
    parts.push(`<rect x="${x}" y="${ly}" width="12" height="12" rx="2" fill="${color(t, i)}"/>`);
    parts.push(`<text x="${x + 17}" y="${ly + 11}" fill="#111827">${escape(text)}</text>`);
  });

  // Grid and y axis.
  for (let v = 0; v <= max + step / 2; v += step) {
    const gy = y(v).toFixed(1);
    parts.push(`<line x1="${left}" y1="${gy}" x2="${width - right}" y2="${gy}" stroke="${v === 0 ? '#9ca3af' : '#e5e7eb'}"/>`);
    parts.push(`<text x="${left - 8}" y="${(+gy + 4).toFixed(1)}" text-anchor="end" fill="#4b5563">${compact(v)}</text>`);
  }
  parts.push(
    `<text transform="translate(18 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="#4b5563">requests / s</text>`,
  );

  // Bars.
  scenarios.forEach((s, si) => {
    const gx = left + groupGap / 2 + si * (groupWidth + groupGap);
    targets.forEach((t, ti) => {
      const x = gx + ti * (barWidth + barGap);
      const value = rps(t, s);
      if (value == null) {
        parts.push(`<text x="${x + barWidth / 2}" y="${y(0) - 4}" text-anchor="middle" font-size="10" fill="#9ca3af">n/a</text>`);
        return;
      }
      const by = y(value);
      parts.push(
        `<rect x="${x}" y="${by.toFixed(1)}" width="${barWidth}" height="${(y(0) - by).toFixed(1)}" fill="${color(t, ti)}">` +
          `<title>${escape(`${t.label} — ${s.label}: ${Math.round(value)} req/s`)}</title></rect>`,
      );
      parts.push(`<text x="${x + barWidth / 2}" y="${(by - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="#111827">${compact(value)}${noisy(t, s) ? '*' : ''}</text>`);
    });
    parts.push(
      `<text x="${gx + groupWidth / 2}" y="${top + plotHeight + 20}" text-anchor="middle" fill="#111827">${escape(s.short ?? s.name)}</text>`,
    );
  });

  footer.forEach((line, i) => {
    parts.push(`<text x="${left}" y="${top + plotHeight + 46 + i * 15}" font-size="11" fill="#6b7280">${escape(line)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
