// Every route of the service, in one list: method, path, schema (the contract) and handler (the behaviour).
// Read this file to know the whole API surface. Cross-cutting behaviour lives in src/app.ts.
import type { App } from './app.js';
import type { BuildInfo } from './build-info.js';
import type { Config } from './config.js';
import type { RouteTable } from './http/route-table.js';
import { systemHandlers } from './system/handlers.js';
import { HealthRoute, InfoRoute } from './system/schemas.js';
import { todoHandlers, trimTitle } from './todos/handlers.js';
import type { TodoRepository } from './todos/repository.js';
import {
  CreateTodoRoute,
  DeleteTodoRoute,
  GetTodoRoute,
  ListTodosRoute,
  UpdateTodoRoute,
} from './todos/schemas.js';

export interface RouteDeps {
  config: Config;
  todos: TodoRepository;
  build: BuildInfo;
  routes: RouteTable;
}

export function addRoutes(app: App, { config, todos: repository, build, routes }: RouteDeps): void {
  const system = systemHandlers({
    env: config.env,
    version: config.version ?? build.version,
    build,
    endpoints: routes.endpoints,
  });
  const todos = todoHandlers(repository);

  app.get('/', { schema: InfoRoute }, system.info);
  app.get('/health', { schema: HealthRoute }, system.health);

  app.get('/api/todos', { schema: ListTodosRoute }, todos.list);
  app.post('/api/todos', { schema: CreateTodoRoute, preValidation: trimTitle }, todos.create);
  app.get('/api/todos/:id', { schema: GetTodoRoute }, todos.get);
  app.put('/api/todos/:id', { schema: UpdateTodoRoute, preValidation: trimTitle }, todos.update);
  app.patch(
    '/api/todos/:id',
    { schema: { ...UpdateTodoRoute, summary: 'Update a todo (same rules as PUT)' }, preValidation: trimTitle },
    todos.update,
  );
  app.delete('/api/todos/:id', { schema: DeleteTodoRoute }, todos.remove);
}
