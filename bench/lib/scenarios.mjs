// The benchmark scenarios, identical for every target. Each has a wrk Lua script (bench/lua/) and an
// equivalent request factory for autocannon; both draw ids uniformly from the seeded range and keep the
// same request mix, so the two load generators put the same load on the server.
//
// `params` (set after seeding): { idMin, idMax, pages } — the seeded ids are idMin..idMax and the list has
// `pages` pages of 10.

// `short` is the chart's axis label.
export const SCENARIOS = [
  { name: 'health', label: 'GET /health', short: 'GET /health', lua: 'get.lua', path: '/health' },
  { name: 'list', label: 'GET /api/todos?page=1&limit=10', short: 'GET list', lua: 'get.lua', path: '/api/todos?page=1&limit=10' },
  { name: 'get', label: 'GET /api/todos/:id', short: 'GET :id', lua: 'get-by-id.lua' },
  { name: 'create', label: 'POST /api/todos', short: 'POST', lua: 'post.lua' },
  { name: 'update', label: 'PUT /api/todos/:id', short: 'PUT :id', lua: 'put.lua' },
  { name: 'mix', label: 'mix 80% read / 20% write', short: 'mix 80/20', lua: 'mix.lua' },
  // GetTodo over gRPC (GRPC_PORT), beside REST's get by id: only targets that serve gRPC run it (lib/grpc-worker.mjs).
  { name: 'grpc-get', label: 'gRPC GetTodo (by id)', short: 'gRPC :id', grpc: true },
];

export function selectScenarios(names) {
  if (!names) return SCENARIOS;
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return SCENARIOS.filter((s) => names.includes(s.name));
}

/** Arguments after `--` for the wrk script (read by bench/lua/common.lua). */
export function wrkScriptArgs(params) {
  return [String(params.idMin), String(params.idMax), String(params.pages)];
}

const JSON_HEADERS = { 'content-type': 'application/json' };

const randomInt = (min, max) => min + Math.floor(Math.random() * (max - min + 1));

/**
 * A function returning the next request ({ method, path, headers?, body? }) of a scenario; used by the
 * autocannon fallback. Mirrors the Lua scripts.
 */
export function requestFactory(scenario, params) {
  let n = 0;
  const list = () => ({ method: 'GET', path: `/api/todos?page=${randomInt(1, params.pages)}&limit=10` });
  const get = () => ({ method: 'GET', path: `/api/todos/${randomInt(params.idMin, params.idMax)}` });
  const create = () => ({
    method: 'POST',
    path: '/api/todos',
    headers: JSON_HEADERS,
    body: `{"title":"Bench todo ${++n}","description":"created by the load generator"}`,
  });
  const update = () => ({
    method: 'PUT',
    path: `/api/todos/${randomInt(params.idMin, params.idMax)}`,
    headers: JSON_HEADERS,
    body: `{"title":"Bench update ${++n}","completed":${n % 2 === 0}}`,
  });

  switch (scenario.name) {
    case 'health':
    case 'list': {
      const fixed = { method: 'GET', path: scenario.path };
      return () => fixed;
    }
    case 'get':
      return get;
    case 'create':
      return create;
    case 'update':
      return update;
    case 'mix':
      // 40% list (random page), 40% get by id, 10% create, 10% update.
      return () => {
        const r = Math.random() * 100;
        if (r < 40) return list();
        if (r < 80) return get();
        if (r < 90) return create();
        return update();
      };
    default:
      throw new Error(`no request factory for scenario ${scenario.name}`);
  }
}
