// Numbered schema migrations for SQLite, applied in order at start-up, each in its own transaction.
// Append new ones; never edit one that has shipped.

import type { Migration } from '../storage.js';

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'create_todos',
    sql: `
      CREATE TABLE todos (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        title       TEXT    NOT NULL,
        description TEXT    NOT NULL DEFAULT '',
        completed   INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
        created_at  TEXT    NOT NULL,
        updated_at  TEXT    NOT NULL
      );
      CREATE INDEX todos_completed_id ON todos (completed, id);

      -- Row counts kept by triggers, so a list page reads its total in O(1) instead of counting the table.
      CREATE TABLE todo_counts (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        total     INTEGER NOT NULL,
        completed INTEGER NOT NULL
      );
      INSERT INTO todo_counts (id, total, completed) VALUES (1, 0, 0);

      CREATE TRIGGER todos_count_insert AFTER INSERT ON todos BEGIN
        UPDATE todo_counts SET total = total + 1, completed = completed + NEW.completed WHERE id = 1;
      END;
      CREATE TRIGGER todos_count_delete AFTER DELETE ON todos BEGIN
        UPDATE todo_counts SET total = total - 1, completed = completed - OLD.completed WHERE id = 1;
      END;
      CREATE TRIGGER todos_count_update AFTER UPDATE OF completed ON todos
        WHEN NEW.completed <> OLD.completed BEGIN
        UPDATE todo_counts SET completed = completed + NEW.completed - OLD.completed WHERE id = 1;
      END;
    `,
  },
];
