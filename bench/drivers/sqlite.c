/* SQLite through sqlite3.h: WAL mode, table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID,
 * prepared statements, one connection per thread.
 *
 * Configuration: a 128 MiB page cache per connection (cache_size), busy_timeout 60 s
 * so that concurrent writers wait on SQLite's own lock. Durability: sync =
 * synchronous=FULL (the WAL is synced at every commit), buffered = NORMAL (synced at
 * checkpoints only), none = OFF. A transaction is BEGIN IMMEDIATE, so writers serialise
 * up front and never conflict. The close checkpoints the WAL from a FULL connection.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../driver.h"

struct kv_db {
  char *path;
  sqlite3 *main; /* held open for the database's lifetime; closed last */
  enum kv_durability durability;
};

struct kv_cursor {
  struct kv_conn *conn;
  sqlite3_stmt *st; /* the connection's seek or scan statement */
};

struct kv_conn {
  kv_db *db;
  sqlite3 *h;
  sqlite3_stmt *get, *put, *begin, *commit, *rollback, *seek, *scan;
  struct kv_cursor cursor; /* the one range read a connection has open at a time */
};

struct kv_txn {
  kv_conn *c;
};

static int fail(sqlite3 *h, const char *what) {
  fprintf(stderr, "sqlite: %s: %s\n", what, h ? sqlite3_errmsg(h) : "out of memory");
  return KV_ERR;
}

static int exec(sqlite3 *h, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
    fprintf(stderr, "sqlite: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(h));
    sqlite3_free(msg);
    return KV_ERR;
  }
  return KV_OK;
}

static sqlite3 *connect(kv_db *d, const char *sync) {
  sqlite3 *h = NULL;
  if (sqlite3_open_v2(d->path, &h,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    fail(h, "open");
    sqlite3_close(h);
    return NULL;
  }
  char sql[128];
  snprintf(sql, sizeof sql, "PRAGMA synchronous=%s; PRAGMA cache_size=-131072;", sync);
  sqlite3_busy_timeout(h, 60000);
  if (exec(h, sql)) {
    sqlite3_close(h);
    return NULL;
  }
  return h;
}

static kv_db *sq_open(const char *dir, enum kv_durability durability, unsigned flags) {
  (void)flags;
  kv_db *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->durability = durability;
  size_t n = strlen(dir) + 16;
  d->path = malloc(n);
  if (!d->path) {
    free(d);
    return NULL;
  }
  snprintf(d->path, n, "%s/kv.sqlite", dir);
  d->main = connect(d, "FULL");
  if (!d->main ||
      exec(d->main, "PRAGMA journal_mode=WAL;"
                    "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;")) {
    sqlite3_close(d->main);
    free(d->path);
    free(d);
    return NULL;
  }
  return d;
}

static int sq_close(kv_db *d) {
  int rc = sqlite3_close(d->main) == SQLITE_OK ? KV_OK : fail(d->main, "close");
  free(d->path);
  free(d);
  return rc;
}

static kv_conn *sq_conn_open(kv_db *d) {
  static const char *sync_names[] = {"FULL", "NORMAL", "OFF"};
  kv_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->db = d;
  c->h = connect(d, sync_names[d->durability]);
  if (!c->h) {
    free(c);
    return NULL;
  }
  struct {
    sqlite3_stmt **st;
    const char *sql;
  } stmts[] = {
      {&c->get, "SELECT v FROM kv WHERE k=?1"},
      {&c->put, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)"},
      {&c->begin, "BEGIN IMMEDIATE"},
      {&c->commit, "COMMIT"},
      {&c->rollback, "ROLLBACK"},
      {&c->seek, "SELECT k, v FROM kv WHERE k>=?1 ORDER BY k"},
      {&c->scan, "SELECT k, v FROM kv ORDER BY k"},
  };
  for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
    if (sqlite3_prepare_v3(c->h, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].st,
                           NULL) != SQLITE_OK) {
      fail(c->h, stmts[i].sql);
      sqlite3_close_v2(c->h);
      free(c);
      return NULL;
    }
  }
  return c;
}

static void sq_conn_close(kv_conn *c) {
  sqlite3_stmt *all[] = {c->get, c->put, c->begin, c->commit, c->rollback, c->seek, c->scan};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
  if (sqlite3_close(c->h) != SQLITE_OK) fail(c->h, "close connection");
  free(c);
}

/* Runs a statement that returns no rows. */
static int run(kv_conn *c, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? KV_OK : fail(c->h, what);
}

static int put_one(kv_conn *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  sqlite3_bind_blob(c->put, 1, k, (int)kl, SQLITE_STATIC);
  sqlite3_bind_blob(c->put, 2, v, (int)vl, SQLITE_STATIC);
  return run(c, c->put, "put");
}

static int sq_put(kv_conn *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  return put_one(c, k, kl, v, vl);
}

static int sq_write_batch(kv_conn *c, const kv_pair *p, size_t n) {
  if (run(c, c->begin, "begin")) return KV_ERR;
  for (size_t i = 0; i < n; i++) {
    if (put_one(c, p[i].key, p[i].klen, p[i].val, p[i].vlen)) {
      run(c, c->rollback, "rollback");
      return KV_ERR;
    }
  }
  return run(c, c->commit, "commit");
}

static int sq_get(kv_conn *c, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                  size_t *vlen) {
  sqlite3_bind_blob(c->get, 1, k, (int)kl, SQLITE_STATIC);
  int rc = sqlite3_step(c->get);
  int r;
  if (rc == SQLITE_ROW) {
    const void *v = sqlite3_column_blob(c->get, 0);
    size_t n = (size_t)sqlite3_column_bytes(c->get, 0);
    memcpy(buf, v, n < cap ? n : cap);
    *vlen = n;
    r = KV_OK;
  } else if (rc == SQLITE_DONE) {
    r = KV_NOTFOUND;
  } else {
    r = fail(c->h, "get");
  }
  sqlite3_reset(c->get);
  return r;
}

static kv_cursor *sq_cursor_open(kv_conn *c, const uint8_t *start, size_t sl) {
  kv_cursor *cur = &c->cursor;
  cur->conn = c;
  cur->st = start ? c->seek : c->scan;
  if (start) sqlite3_bind_blob(cur->st, 1, start, (int)sl, SQLITE_TRANSIENT);
  return cur;
}

static int sq_cursor_next(kv_cursor *cur, const uint8_t **k, size_t *kl,
                          const uint8_t **v, size_t *vl) {
  int rc = sqlite3_step(cur->st);
  if (rc == SQLITE_DONE) return KV_NOTFOUND;
  if (rc != SQLITE_ROW) return fail(cur->conn->h, "range read");
  *k = sqlite3_column_blob(cur->st, 0);
  *kl = (size_t)sqlite3_column_bytes(cur->st, 0);
  *v = sqlite3_column_blob(cur->st, 1);
  *vl = (size_t)sqlite3_column_bytes(cur->st, 1);
  return KV_OK;
}

static void sq_cursor_close(kv_cursor *cur) {
  sqlite3_reset(cur->st);
  sqlite3_clear_bindings(cur->st);
}

static kv_txn *sq_txn_begin(kv_conn *c) {
  if (run(c, c->begin, "begin")) return NULL;
  kv_txn *t = malloc(sizeof *t);
  if (!t) {
    run(c, c->rollback, "rollback");
    return NULL;
  }
  t->c = c;
  return t;
}

static int sq_txn_get(kv_txn *t, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                      size_t *vlen) {
  return sq_get(t->c, k, kl, buf, cap, vlen);
}

static int sq_txn_put(kv_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                      size_t vl) {
  return put_one(t->c, k, kl, v, vl);
}

static int sq_txn_commit(kv_txn *t) {
  int rc = run(t->c, t->c->commit, "commit");
  if (rc) run(t->c, t->c->rollback, "rollback");
  free(t);
  return rc;
}

static void sq_txn_abort(kv_txn *t) {
  run(t->c, t->c->rollback, "rollback");
  free(t);
}

const kv_driver kv_sqlite = {
    .name = "sqlite",
    .version = sqlite3_libversion,
    .open = sq_open,
    .close = sq_close,
    .compact = NULL,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .put = sq_put,
    .write_batch = sq_write_batch,
    .get = sq_get,
    .cursor_open = sq_cursor_open,
    .cursor_next = sq_cursor_next,
    .cursor_close = sq_cursor_close,
    .txn_begin = sq_txn_begin,
    .txn_get = sq_txn_get,
    .txn_put = sq_txn_put,
    .txn_commit = sq_txn_commit,
    .txn_abort = sq_txn_abort,
};
