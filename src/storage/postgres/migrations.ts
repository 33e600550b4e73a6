// Numbered schema migrations for PostgreSQL, applied in order under an advisory lock, each in its own
// transaction. Append new ones; never edit one that has shipped.
import type { Migration } from '../storage.js';

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'create_todos',
    sql: `
      CREATE TABLE todos (
        id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        title       text        NOT NULL,
        description text        NOT NULL DEFAULT '',
        completed   boolean     NOT NULL DEFAULT false,
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL
      );
      CREATE INDEX todos_completed_id ON todos (completed, id);

      -- Row counts kept by a trigger, so a list page reads its total in O(1) instead of counting the table.
      CREATE TABLE todo_counts (
        id        integer PRIMARY KEY CHECK (id = 1),
        total     bigint  NOT NULL,
        completed bigint  NOT NULL
      );
      INSERT INTO todo_counts (id, total, completed) VALUES (1, 0, 0);

      CREATE FUNCTION todo_counts_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          UPDATE todo_counts SET total = total + 1, completed = completed + NEW.completed::int WHERE id = 1;
        ELSIF TG_OP = 'DELETE' THEN
          UPDATE todo_counts SET total = total - 1, completed = completed - OLD.completed::int WHERE id = 1;
        ELSIF NEW.completed IS DISTINCT FROM OLD.completed THEN
          UPDATE todo_counts SET completed = completed + NEW.completed::int - OLD.completed::int WHERE id = 1;
        END IF;
        RETURN NULL;
      END $$;

      CREATE TRIGGER todos_counts AFTER INSERT OR DELETE OR UPDATE OF completed ON todos
        FOR EACH ROW EXECUTE FUNCTION todo_counts_maintain();
    `,
  },
];
