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
  {
    version: 2,
    name: 'owners_and_api_keys',
    sql: `
      -- Every todo belongs to an owner; the rows from before belong to the shared list of AUTH_MODE=none.
      ALTER TABLE todos ADD COLUMN owner text NOT NULL DEFAULT 'anonymous';
      ALTER TABLE todos ALTER COLUMN owner DROP DEFAULT;
      DROP INDEX todos_completed_id;
      CREATE INDEX todos_owner_id ON todos (owner, id);
      CREATE INDEX todos_owner_completed_id ON todos (owner, completed, id);

      -- The counts, per owner now.
      DROP TRIGGER todos_counts ON todos;
      DROP FUNCTION todo_counts_maintain();
      DROP TABLE todo_counts;
      CREATE TABLE todo_counts (
        owner     text   PRIMARY KEY,
        total     bigint NOT NULL,
        completed bigint NOT NULL
      );
      INSERT INTO todo_counts (owner, total, completed)
        SELECT owner, count(*), count(*) FILTER (WHERE completed) FROM todos GROUP BY owner;

      CREATE FUNCTION todo_counts_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO todo_counts (owner, total, completed) VALUES (NEW.owner, 1, NEW.completed::int)
            ON CONFLICT (owner) DO UPDATE
            SET total = todo_counts.total + 1, completed = todo_counts.completed + NEW.completed::int;
        ELSIF TG_OP = 'DELETE' THEN
          UPDATE todo_counts SET total = total - 1, completed = completed - OLD.completed::int WHERE owner = OLD.owner;
        ELSIF NEW.completed IS DISTINCT FROM OLD.completed THEN
          UPDATE todo_counts SET completed = completed + NEW.completed::int - OLD.completed::int WHERE owner = NEW.owner;
        END IF;
        RETURN NULL;
      END $$;

      CREATE TRIGGER todos_counts AFTER INSERT OR DELETE OR UPDATE OF completed ON todos
        FOR EACH ROW EXECUTE FUNCTION todo_counts_maintain();

      -- API keys: the SHA-256 of the secret part, never the key itself.
      CREATE TABLE api_keys (
        id            text        PRIMARY KEY,
        owner         text        NOT NULL,
        scopes        text        NOT NULL,
        name          text        NOT NULL DEFAULT '',
        secret_sha256 bytea       NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        revoked_at    timestamptz
      );
    `,
  },
  {
    version: 3,
    name: 'versions_and_idempotency_keys',
    sql: `
      -- Bumped by every update: what the ETag names, and what If-Match compares.
      ALTER TABLE todos ADD COLUMN version integer NOT NULL DEFAULT 1;

      -- Idempotency-Key: per owner; the answer is stored in the transaction of the write it answers. Times are
      -- epoch milliseconds, as in SQLite.
      CREATE TABLE idempotency_keys (
        owner       text    NOT NULL,
        key         text    NOT NULL,
        fingerprint text    NOT NULL,
        state       text    NOT NULL CHECK (state IN ('running', 'done')),
        lease_until bigint  NOT NULL,
        expires_at  bigint  NOT NULL,
        status      integer,
        message     text,
        timestamp   text,
        todo        text,
        PRIMARY KEY (owner, key)
      );
      CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
    `,
  },
];
