// The storage contract for todos. Every backend (SQLite now, PostgreSQL later) implements this interface;
// routes only ever see it. Plain objects in, plain objects out, timestamps as ISO-8601 strings.
export interface Todo {
  id: number;
  title: string;
  description: string;
  completed: boolean;
  created_at: string;
  updated_at: string;
}

export interface NewTodo {
  title: string;
  description: string;
}

/** Fields left undefined keep their stored value. */
export interface TodoPatch {
  title?: string | undefined;
  description?: string | undefined;
  completed?: boolean | undefined;
}

export interface ListQuery {
  offset: number;
  limit: number;
  completed?: boolean | undefined;
}

export interface TodoPage {
  items: Todo[];
  /** Number of todos matching the filter, over all pages. */
  total: number;
}

export interface TodoRepository {
  list(query: ListQuery): Promise<TodoPage>;
  get(id: number): Promise<Todo | undefined>;
  create(todo: NewTodo): Promise<Todo>;
  update(id: number, patch: TodoPatch): Promise<Todo | undefined>;
  delete(id: number): Promise<Todo | undefined>;
}
