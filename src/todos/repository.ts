// The storage contract for todos. Every backend (SQLite, PostgreSQL) implements this interface; handlers only
// ever see it. Plain objects in, plain objects out, timestamps as ISO-8601 strings.
//
// Every todo belongs to an owner (the caller's identity: src/auth/), and every method is scoped by it: another
// owner's todo is exactly as absent as a missing one. Ids stay global integers.
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
  list(owner: string, query: ListQuery): Promise<TodoPage>;
  get(owner: string, id: number): Promise<Todo | undefined>;
  create(owner: string, todo: NewTodo): Promise<Todo>;
  update(owner: string, id: number, patch: TodoPatch): Promise<Todo | undefined>;
  delete(owner: string, id: number): Promise<Todo | undefined>;
}
