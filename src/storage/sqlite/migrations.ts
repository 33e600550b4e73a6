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
  {
    version: 2,
    name: 'owners_and_api_keys',
    sql: `
      -- Every todo belongs to an owner; the rows from before belong to the shared list of AUTH_MODE=none.
      ALTER TABLE todos ADD COLUMN owner TEXT NOT NULL DEFAULT 'anonymous';
      DROP INDEX todos_completed_id;
      CREATE INDEX todos_owner_id ON todos (owner, id);
      CREATE INDEX todos_owner_completed_id ON todos (owner, completed, id);

      -- The counts, per owner now.
      DROP TRIGGER todos_count_insert;
      DROP TRIGGER todos_count_delete;
      DROP TRIGGER todos_count_update;
      DROP TABLE todo_counts;
      CREATE TABLE todo_counts (
        owner     TEXT    PRIMARY KEY,
        total     INTEGER NOT NULL,
        completed INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO todo_counts (owner, total, completed)
        SELECT owner, count(*), coalesce(sum(completed), 0) FROM todos GROUP BY owner;
      CREATE TRIGGER todos_count_insert AFTER INSERT ON todos BEGIN
        INSERT INTO todo_counts (owner, total, completed) VALUES (NEW.owner, 1, NEW.completed)
          ON CONFLICT (owner) DO UPDATE SET total = total + 1, completed = completed + NEW.completed;
      END;
      CREATE TRIGGER todos_count_delete AFTER DELETE ON todos BEGIN
        UPDATE todo_counts SET total = total - 1, completed = completed - OLD.completed WHERE owner = OLD.owner;
      END;
      CREATE TRIGGER todos_count_update AFTER UPDATE OF completed ON todos
        WHEN NEW.completed <> OLD.completed BEGIN
        UPDATE todo_counts SET completed = completed + NEW.completed - OLD.completed WHERE owner = NEW.owner;
      END;

      -- API keys: the SHA-256 of the secret part, never the key itself.
      CREATE TABLE api_keys (
        id            TEXT PRIMARY KEY,
        owner         TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        name          TEXT NOT NULL DEFAULT '',
        secret_sha256 BLOB NOT NULL,
        created_at    TEXT NOT NULL,
        revoked_at    TEXT
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'versions_and_idempotency_keys',
    sql: `
      -- Bumped by every update: what the ETag names, and what If-Match compares.
      ALTER TABLE todos ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

      -- Idempotency-Key: per owner; the answer is stored in the transaction of the write it answers. Times are
      -- epoch milliseconds.
      CREATE TABLE idempotency_keys (
        owner       TEXT    NOT NULL,
        key         TEXT    NOT NULL,
        fingerprint TEXT    NOT NULL,
        state       TEXT    NOT NULL CHECK (state IN ('running', 'done')),
        lease_until INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        status      INTEGER,
        message     TEXT,
        timestamp   TEXT,
        todo        TEXT,
        PRIMARY KEY (owner, key)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
    `,
  },
];
