// node scripts/check-dashboard.mjs [--metrics <file>] [--promtool <path>] [dashboard.json…]
//
// Checks the Grafana dashboards under deploy/grafana/dashboards (or the files named) offline:
//
//   1. structure: unique integer panel ids, a title and a description on every panel, a gridPos inside the
//      24-column grid with no two panels overlapping, every Prometheus query going through the `datasource`
//      template variable (panels, their targets, annotations, query variables), unique refIds;
//   2. PromQL syntax: every expression (panel targets, annotation queries, the selectors of label_values()
//      variables) has its template variables replaced by plausible values ($__rate_interval → 1m, a multi-value
//      variable → its "All" value, a custom variable → its current value…), an unknown variable is an error, and
//      all of them go as recording rules into a temporary rules file checked by `promtool check rules`;
//   3. with --metrics <file> (a /metrics scrape of the service): every metric name the expressions use is
//      exported — a histogram as <name>_bucket/_sum/_count, a summary also as <name> — and every label matched in
//      a selector is a label of that metric's samples (or a target label Prometheus adds: job, instance, and any
//      given with --target-labels a,b).
//
// Exits 1 with one line per problem, 2 on a usage error.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---- arguments ---------------------------------------------------------------------------------------------
let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      metrics: { type: 'string' },
      promtool: { type: 'string' },
      'target-labels': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (error) {
  console.error(`check-dashboard: ${error.message}`);
  process.exit(2);
}
if (args.values.help) {
  console.log('usage: node scripts/check-dashboard.mjs [--metrics <file>] [--promtool <path>] [--target-labels a,b] [dashboard.json…]');
  process.exit(0);
}

const dashboardDir = join(root, 'deploy', 'grafana', 'dashboards');
const files = args.positionals.length > 0
  ? args.positionals
  : readdirSync(dashboardDir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dashboardDir, f));
if (files.length === 0) {
  console.error(`check-dashboard: no dashboard JSON in ${relative(process.cwd(), dashboardDir) || '.'}`);
  process.exit(2);
}

const promtool = args.values.promtool ?? process.env.PROMTOOL ?? findOnPath('promtool') ?? '/usr/bin/promtool';
const targetLabels = new Set(['job', 'instance', ...args.values['target-labels'].split(',').map((s) => s.trim()).filter(Boolean)]);

const exported = args.values.metrics === undefined ? undefined : readExposition(args.values.metrics);

// ---- the checks (run at the end of the module, once every constant below is defined) ----------------------
function main() {
  const problems = [];
  const notes = [];
  let totalExpressions = 0;

  for (const file of files) {
    const name = relative(process.cwd(), file) || file;
    const problem = (where, message) => problems.push(`${name}: ${where ? `${where}: ` : ''}${message}`);
    let dashboard;
    try {
      dashboard = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      problem('', `cannot read as JSON: ${error.message}`);
      continue;
    }

    const expressions = checkStructure(dashboard, problem);
    totalExpressions += expressions.length;

    const resolved = [];
    for (const e of expressions) {
      const substituted = substitute(e.expr, dashboard, (message) => problem(e.where, message));
      if (substituted !== undefined) resolved.push({ ...e, promql: substituted });
    }

    checkSyntax(resolved, problem);
    if (exported) checkMetricNames(resolved, exported, problem, (message) => notes.push(`${name}: ${message}`));

    const panelCount = allPanels(dashboard.panels ?? []).filter((p) => p.type !== 'row').length;
    console.log(`${name}: ${panelCount} panels, ${expressions.length} PromQL expressions`);
  }

  for (const note of notes) console.log(`note: ${note}`);
  if (problems.length > 0) {
    for (const p of problems) console.error(`error: ${p}`);
    console.error(`check-dashboard: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    process.exit(1);
  }
  console.log(
    `check-dashboard: OK — structure, ${totalExpressions} expressions valid for promtool` +
      (exported ? `, every metric and matched label exported in ${args.values.metrics}` : ' (metric names not checked: no --metrics)'),
  );
}

// ---- 1. structure ------------------------------------------------------------------------------------------
function allPanels(panels) {
  return panels.flatMap((p) => [p, ...(p.type === 'row' && Array.isArray(p.panels) ? allPanels(p.panels) : [])]);
}

function usesVariable(ds, variable) {
  const refs = [`$${variable}`, `\${${variable}}`];
  if (typeof ds === 'string') return refs.includes(ds);
  return ds !== null && typeof ds === 'object' && refs.includes(ds.uid);
}

/** Validates the dashboard's shape; returns every PromQL expression with where it came from. */
function checkStructure(d, problem) {
  for (const key of ['title', 'uid']) if (typeof d[key] !== 'string' || d[key] === '') problem('', `no "${key}"`);
  if (typeof d.schemaVersion !== 'number') problem('', 'no numeric "schemaVersion"');
  if (!Array.isArray(d.panels) || d.panels.length === 0) {
    problem('', 'no "panels"');
    return [];
  }
  const variables = d.templating?.list ?? [];
  const dsVar = variables.find((v) => v.type === 'datasource');
  if (!dsVar) problem('templating', 'no template variable of type "datasource"');
  else if (dsVar.query !== 'prometheus') problem(`variable $${dsVar.name}`, `query is "${dsVar.query}", expected "prometheus"`);
  const dsName = dsVar?.name ?? 'datasource';
  const names = new Set();
  for (const v of variables) {
    if (names.has(v.name)) problem(`variable $${v.name}`, 'defined twice');
    names.add(v.name);
  }

  const expressions = [];
  const seenIds = new Map();
  const panels = allPanels(d.panels);
  for (const p of panels) {
    const where = `panel ${p.id ?? '?'} "${p.title ?? ''}"`;
    if (!Number.isInteger(p.id)) problem(where, 'id is not an integer');
    else if (seenIds.has(p.id)) problem(where, `id ${p.id} also used by "${seenIds.get(p.id)}"`);
    else seenIds.set(p.id, p.title);
    if (typeof p.title !== 'string' || p.title.trim() === '') problem(where, 'no title');
    if (p.type !== 'row' && (typeof p.description !== 'string' || p.description.trim() === '')) problem(where, 'no description');
    const g = p.gridPos;
    if (!g || !['h', 'w', 'x', 'y'].every((k) => Number.isInteger(g[k]) && g[k] >= 0)) problem(where, 'no gridPos with integer h, w, x, y');
    else if (g.w < 1 || g.h < 1 || g.x + g.w > 24) problem(where, `gridPos ${JSON.stringify(g)} is outside the 24-column grid`);
    if (p.type === 'row') {
      if (Array.isArray(p.targets) && p.targets.length > 0) problem(where, 'a row with queries');
      continue;
    }
    if (!Array.isArray(p.targets) || p.targets.length === 0) {
      if (!p.libraryPanel && !['text', 'news', 'dashlist'].includes(p.type)) problem(where, 'no targets');
      continue;
    }
    if (!usesVariable(p.datasource, dsName)) problem(where, `datasource ${JSON.stringify(p.datasource)} does not use $${dsName}`);
    const refIds = new Set();
    for (const t of p.targets) {
      const at = `${where} target ${t.refId ?? '?'}`;
      if (typeof t.refId !== 'string' || t.refId === '') problem(at, 'no refId');
      else if (refIds.has(t.refId)) problem(at, 'refId used twice');
      refIds.add(t.refId);
      if (t.datasource !== undefined && !usesVariable(t.datasource, dsName)) problem(at, `datasource ${JSON.stringify(t.datasource)} does not use $${dsName}`);
      if (typeof t.expr !== 'string' || t.expr.trim() === '') problem(at, 'no expr');
      else expressions.push({ where: at, id: `p${p.id}_${t.refId}`, expr: t.expr });
    }
  }

  // Panels at the top level must not overlap (rows' inner panels belong to a collapsed row's own layout).
  const boxes = d.panels.filter((p) => p.gridPos && ['h', 'w', 'x', 'y'].every((k) => Number.isInteger(p.gridPos[k])));
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i].gridPos;
      const b = boxes[j].gridPos;
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) {
        problem(`panel ${boxes[i].id} "${boxes[i].title}"`, `overlaps panel ${boxes[j].id} "${boxes[j].title}"`);
      }
    }
  }

  for (const [i, a] of (d.annotations?.list ?? []).entries()) {
    if (a.builtIn) continue;
    const where = `annotation "${a.name ?? i}"`;
    if (a.datasource?.type === 'prometheus' || a.expr !== undefined) {
      if (!usesVariable(a.datasource, dsName)) problem(where, `datasource ${JSON.stringify(a.datasource)} does not use $${dsName}`);
      if (typeof a.expr !== 'string' || a.expr.trim() === '') problem(where, 'no expr');
      else expressions.push({ where, id: `annotation_${i}`, expr: a.expr });
    }
  }

  for (const v of variables) {
    if (v.type !== 'query' && v.type !== 'adhoc') continue;
    const where = `variable $${v.name}`;
    if (!usesVariable(v.datasource, dsName)) problem(where, `datasource ${JSON.stringify(v.datasource)} does not use $${dsName}`);
    if (v.type !== 'query') continue;
    const query = typeof v.query === 'string' ? v.query : v.query?.query;
    if (typeof query !== 'string' || query.trim() === '') {
      problem(where, 'no query');
      continue;
    }
    // label_values(<selector>, <label>) and query_result(<expr>) carry PromQL; label_values(<label>),
    // label_names() and metrics(<regex>) do not.
    const lv = /^\s*label_values\(\s*(.+),\s*([a-zA-Z_]\w*)\s*\)\s*$/s.exec(query);
    const qr = /^\s*query_result\(\s*(.+)\)\s*$/s.exec(query);
    if (lv) expressions.push({ where, id: `var_${v.name}`, expr: lv[1] });
    else if (qr) expressions.push({ where, id: `var_${v.name}`, expr: qr[1] });
    else if (!/^\s*(label_values\(\s*[a-zA-Z_]\w*\s*\)|label_names\(.*\)|metrics\(.*\))\s*$/s.test(query)) {
      problem(where, `query "${query}" is none of label_values(), label_names(), metrics(), query_result()`);
    }
  }
  return expressions;
}

// ---- 2. template variables and promtool --------------------------------------------------------------------
const BUILTINS = {
  __rate_interval: '1m',
  __interval: '1m',
  __interval_ms: '60000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
  __from: '1700000000000',
  __to: '1700003600000',
};

/** A value the variable plausibly takes in a query, or undefined when the dashboard does not define it. */
function variableValue(dashboard, name) {
  if (Object.hasOwn(BUILTINS, name)) return BUILTINS[name];
  const v = (dashboard.templating?.list ?? []).find((x) => x.name === name);
  if (!v) return undefined;
  const current = Array.isArray(v.current?.value) ? v.current.value[0] : v.current?.value;
  const first = v.options?.[0]?.value;
  switch (v.type) {
    case 'query':
      // Multi-value and "All" selections become regexes (a|b) or the allValue; `.*` stands for either.
      return v.includeAll && typeof v.allValue === 'string' && v.allValue !== '' ? v.allValue : '.*';
    case 'datasource':
      return 'prometheus';
    case 'interval': {
      const fromQuery = typeof v.query === 'string' ? v.query.split(',')[0].trim() : undefined;
      const value = current && current !== '$__auto_interval_' + name ? current : fromQuery;
      return value && !value.startsWith('$') ? value : '1m';
    }
    default: {
      // custom, constant, textbox: the current value, else the first option, else the query itself.
      const value = current === '$__all' ? (v.allValue ?? first) : (current ?? first ?? v.query);
      return typeof value === 'string' ? value : String(value ?? '');
    }
  }
}

function substitute(expr, dashboard, problem) {
  let ok = true;
  // ${name}, ${name:format}, ${name.field}, [[name]], [[name:format]], $name
  const result = expr.replace(/\$\{(\w+)(?:[.:][^}]*)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)/g, (match, a, b, c) => {
    const name = a ?? b ?? c;
    const value = variableValue(dashboard, name);
    if (value === undefined) {
      problem(`unknown template variable ${match}`);
      ok = false;
      return match;
    }
    return value;
  });
  return ok ? result : undefined;
}

function findOnPath(command) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

function checkSyntax(resolved, problem) {
  if (resolved.length === 0) return;
  const dir = mkdtempSync(join(tmpdir(), 'check-dashboard-'));
  try {
    const file = join(dir, 'dashboard-rules.yml');
    // JSON strings are valid YAML double-quoted scalars, so the expressions need no other escaping.
    const record = (e) => `dashboard_check:${e.id.replace(/[^a-zA-Z0-9_]/g, '_')}`;
    const rules = resolved.map((e) => `      - record: ${record(e)}\n        expr: ${JSON.stringify(e.promql)}\n`).join('');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}`);
    const run = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
    if (run.error) {
      problem('', `cannot run promtool (${promtool}): ${run.error.message}; give its path with --promtool`);
      return;
    }
    if (run.status === 0) return;
    const output = `${run.stdout}\n${run.stderr}`;
    let attributed = false;
    for (const e of resolved) {
      // promtool names the failing rule by its record name; report each against its panel.
      const line = output.split('\n').find((l) => new RegExp(`"${record(e)}"`).test(l));
      if (line) {
        problem(e.where, `promtool: ${line.replace(/^.*?"[^"]+":\s*/, '').trim()}\n    expr: ${e.promql}`);
        attributed = true;
      }
    }
    if (!attributed) problem('', `promtool check rules failed:\n${output.trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 3. metric names against a /metrics scrape -------------------------------------------------------------
/** name → { labels: Set of label names seen on its samples, sampled: boolean, family: string, type: string } */
function readExposition(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    console.error(`check-dashboard: cannot read --metrics ${path}: ${error.message}`);
    process.exit(2);
  }
  const names = new Map();
  const add = (name, family, type) => {
    if (!names.has(name)) names.set(name, { labels: new Set(), sampled: false, family, type });
  };
  for (const line of text.split('\n')) {
    const type = /^#\s+TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)/.exec(line);
    if (type) {
      const [, family, kind] = type;
      if (kind === 'histogram' || kind === 'gaugehistogram') for (const s of ['_bucket', '_sum', '_count']) add(family + s, family, kind);
      else if (kind === 'summary') for (const s of ['', '_sum', '_count']) add(family + s, family, kind);
      else if (kind === 'counter' && !family.endsWith('_total')) add(`${family}_total`, family, kind); // OpenMetrics
      else add(family, family, kind);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line);
    if (!sample) continue;
    add(sample[1], sample[1], 'untyped');
    const entry = names.get(sample[1]);
    entry.sampled = true;
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_]\w*)\s*=\s*"/g)) entry.labels.add(m[1]);
  }
  if (names.size === 0) {
    console.error(`check-dashboard: --metrics ${path} holds no metrics (is it a Prometheus text exposition?)`);
    process.exit(2);
  }
  return names;
}

const AGGREGATIONS = new Set(['sum', 'avg', 'count', 'min', 'max', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'limitk', 'limit_ratio']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', ...GROUPING]);

/**
 * The vector selectors of a PromQL expression: [{ name, matchers: [label…] }]. A small tokenizer, enough for
 * dashboards: it skips strings, numbers and durations, ranges, function and aggregation names, and the label
 * lists of by/without/on/ignoring/group_left/group_right; what remains as an identifier is a metric name.
 */
function selectors(promql) {
  const out = [];
  let i = 0;
  const n = promql.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(promql[i])) i++;
    if (promql[i] === '#') while (i < n && promql[i] !== '\n') i++;
  };
  const readMatchers = () => {
    // at '{': label names of the matchers, and __name__="x" when given
    const labels = [];
    let name;
    i++;
    while (i < n && promql[i] !== '}') {
      skipSpace();
      const m = /^([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*,?/.exec(promql.slice(i));
      if (!m) {
        i++;
        continue;
      }
      if (m[1] === '__name__' && m[2] === '=') name = m[3].slice(1, -1);
      else labels.push(m[1]);
      i += m[0].length;
    }
    i++;
    return { labels, name };
  };
  const skipParenList = () => {
    skipSpace();
    if (promql[i] !== '(') return;
    while (i < n && promql[i] !== ')') i++;
    i++;
  };
  while (i < n) {
    skipSpace();
    if (i >= n) break;
    const c = promql[i];
    if (c === '"' || c === "'" || c === '`') {
      const end = c === '`' ? promql.indexOf('`', i + 1) : findClosingQuote(promql, i);
      i = end < 0 ? n : end + 1;
    } else if (c === '[') {
      i = promql.indexOf(']', i);
      i = i < 0 ? n : i + 1;
    } else if (c === '{') {
      const { labels, name } = readMatchers();
      if (name) out.push({ name, matchers: labels });
    } else if (/[0-9.]/.test(c)) {
      const m = /^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?[a-zA-Z0-9_]*)/.exec(promql.slice(i));
      i += m ? m[0].length : 1;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(promql.slice(i))[0];
      i += word.length;
      const lower = word.toLowerCase();
      const save = i;
      skipSpace();
      const next = promql[i];
      if (GROUPING.has(lower)) {
        skipParenList();
      } else if (lower === 'offset') {
        skipSpace();
        if (promql[i] === '-') i++;
        const m = /^[0-9a-zA-Z.]+/.exec(promql.slice(i));
        if (m) i += m[0].length;
      } else if (KEYWORDS.has(lower)) {
        // operator or number literal (Inf, NaN)
      } else if (next === '(' || (AGGREGATIONS.has(lower) && /^(by|without)\b/i.test(promql.slice(i)))) {
        // a function or an aggregation: its arguments are read as the loop goes on
      } else {
        i = save;
        skipSpace();
        let matchers = [];
        if (promql[i] === '{') {
          const read = readMatchers();
          matchers = read.labels;
        } else {
          i = save;
        }
        out.push({ name: word, matchers });
      }
    } else {
      i++;
    }
  }
  return out;
}

function findClosingQuote(s, start) {
  for (let j = start + 1; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === s[start]) return j;
  }
  return -1;
}

function checkMetricNames(resolved, names, problem, note) {
  const unsampled = new Set();
  for (const e of resolved) {
    for (const sel of selectors(e.promql)) {
      const entry = names.get(sel.name);
      if (!entry) {
        const family = [...names.values()].find((x) => x.family === sel.name);
        const hint = family
          ? ` (${sel.name} is a ${family.type}: query ${[...names.keys()].filter((k) => names.get(k).family === sel.name).join(', ')})`
          : '';
        problem(e.where, `metric ${sel.name} is not in ${basename(args.values.metrics)}${hint}`);
        continue;
      }
      if (!entry.sampled) {
        unsampled.add(sel.name);
        continue;
      }
      for (const label of sel.matchers) {
        if (!entry.labels.has(label) && !targetLabels.has(label)) {
          const known = [...entry.labels].sort().join(', ') || 'none';
          problem(e.where, `${sel.name} has no label "${label}" (its labels: ${known}; target labels: ${[...targetLabels].join(', ')})`);
        }
      }
    }
  }
  for (const name of [...unsampled].sort()) note(`${name} is declared in the scrape but has no samples, so its labels were not checked`);
}

main();
