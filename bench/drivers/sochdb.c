/* SochDB through its C ABI (include/sochdb.h), in-process (sochdb_open).
 *
 * Configuration: the defaults (64 MiB memtable, 128 MiB block cache, serializable
 * transactions). Durability: the database's own modes, SOCHDB_DURABILITY_SYNC (the
 * default), _BUFFERED and _NONE. A database handle is shared by all threads, as the
 * header allows; each connection keeps one reusable batch. The overwrite workload's
 * settle step is sochdb_compact, the full manual compaction (RocksDB's CompactRange
 * counterpart): it starts with a checkpoint (flush, sync, trim the log), then rewrites
 * every level into the last one, so no separate checkpoint is needed for the log.
 */
#include <sochdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../driver.h"

struct kv_db {
  sochdb_db *db;
};

struct kv_conn {
  kv_db *db;
  sochdb_batch *batch; /* reused by every write_batch of this connection */
};

struct kv_cursor {
  sochdb_iter *it;
};

struct kv_txn {
  kv_db *db;
  sochdb_txn *t;
};

/* Reports a failed call and frees its error object. */
static int fail(const char *what, sochdb_status st, sochdb_error *err) {
  fprintf(stderr, "sochdb: %s: %s: %s\n", what, sochdb_status_str(st),
          err ? sochdb_error_message(err) : "(no message)");
  sochdb_error_free(err);
  return KV_ERR;
}

static const uint32_t durability_of[] = {
    [KV_SYNC] = SOCHDB_DURABILITY_SYNC,
    [KV_BUFFERED] = SOCHDB_DURABILITY_BUFFERED,
    [KV_NONE] = SOCHDB_DURABILITY_NONE,
};

static kv_db *sd_open(const char *dir, enum kv_durability durability, unsigned flags) {
  (void)flags; /* every SochDB handle has transactions */
  kv_db *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  sochdb_options o;
  sochdb_options_init(&o);
  o.durability = durability_of[durability];
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_open(dir, &o, &d->db, &err);
  if (st != SOCHDB_OK) {
    fail("open", st, err);
    free(d);
    return NULL;
  }
  return d;
}

static int sd_close(kv_db *d) {
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_close(d->db, &err);
  free(d);
  return st == SOCHDB_OK ? KV_OK : fail("close", st, err);
}

static int sd_compact(kv_db *d) {
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_compact(d->db, &err);
  return st == SOCHDB_OK ? KV_OK : fail("compact", st, err);
}

static kv_conn *sd_conn_open(kv_db *d) {
  kv_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->db = d;
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_batch_new(&c->batch, &err);
  if (st != SOCHDB_OK) {
    fail("new batch", st, err);
    free(c);
    return NULL;
  }
  return c;
}

static void sd_conn_close(kv_conn *c) {
  sochdb_batch_free(c->batch);
  free(c);
}

static int sd_put(kv_conn *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_put(c->db->db, NULL, k, kl, v, vl, &err);
  return st == SOCHDB_OK ? KV_OK : fail("put", st, err);
}

static int sd_write_batch(kv_conn *c, const kv_pair *p, size_t n) {
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_batch_clear(c->batch, &err);
  if (st != SOCHDB_OK) return fail("clear batch", st, err);
  for (size_t i = 0; i < n; i++) {
    st = sochdb_batch_put(c->batch, p[i].key, p[i].klen, p[i].val, p[i].vlen, &err);
    if (st != SOCHDB_OK) return fail("batch put", st, err);
  }
  st = sochdb_write_batch(c->db->db, c->batch, NULL, &err);
  return st == SOCHDB_OK ? KV_OK : fail("write batch", st, err);
}

static int get_in(sochdb_db *db, sochdb_txn *txn, const uint8_t *k, size_t kl, uint8_t *buf,
                  size_t cap, size_t *vlen) {
  sochdb_buf v = {0};
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_get(db, txn, k, kl, &v, &err);
  if (st == SOCHDB_NOT_FOUND) return KV_NOTFOUND;
  if (st == SOCHDB_CONFLICT) {
    sochdb_error_free(err);
    return KV_CONFLICT;
  }
  if (st != SOCHDB_OK) return fail(txn ? "txn get" : "get", st, err);
  memcpy(buf, v.data, v.len < cap ? v.len : cap);
  *vlen = v.len;
  sochdb_buf_free(&v);
  return KV_OK;
}

static int sd_get(kv_conn *c, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                  size_t *vlen) {
  return get_in(c->db->db, NULL, k, kl, buf, cap, vlen);
}

static kv_cursor *sd_cursor_open(kv_conn *c, const uint8_t *start, size_t sl) {
  kv_cursor *cur = malloc(sizeof *cur);
  if (!cur) return NULL;
  sochdb_error *err = NULL;
  sochdb_status st =
      sochdb_scan_range(c->db->db, NULL, start, start ? sl : 0, NULL, 0, 0, 0, &cur->it, &err);
  if (st != SOCHDB_OK) {
    fail("scan", st, err);
    free(cur);
    return NULL;
  }
  return cur;
}

static int sd_cursor_next(kv_cursor *cur, const uint8_t **k, size_t *kl, const uint8_t **v,
                          size_t *vl) {
  sochdb_slice key, val;
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_iter_next(cur->it, &key, &val, &err);
  if (st == SOCHDB_NOT_FOUND) return KV_NOTFOUND;
  if (st != SOCHDB_OK) return fail("iterate", st, err);
  *k = key.data;
  *kl = key.len;
  *v = val.data;
  *vl = val.len;
  return KV_OK;
}

static void sd_cursor_close(kv_cursor *cur) {
  sochdb_iter_free(cur->it);
  free(cur);
}

static kv_txn *sd_txn_begin(kv_conn *c) {
  kv_txn *t = malloc(sizeof *t);
  if (!t) return NULL;
  t->db = c->db;
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_begin(c->db->db, 0, &t->t, &err);
  if (st != SOCHDB_OK) {
    fail("begin", st, err);
    free(t);
    return NULL;
  }
  return t;
}

static int sd_txn_get(kv_txn *t, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                      size_t *vlen) {
  return get_in(t->db->db, t->t, k, kl, buf, cap, vlen);
}

static int sd_txn_put(kv_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                      size_t vl) {
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_put(t->db->db, t->t, k, kl, v, vl, &err);
  return st == SOCHDB_OK ? KV_OK : fail("txn put", st, err);
}

static int sd_txn_commit(kv_txn *t) {
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_commit(t->t, NULL, &err);
  sochdb_txn_free(t->t);
  free(t);
  if (st == SOCHDB_OK) return KV_OK;
  if (st == SOCHDB_CONFLICT) {
    sochdb_error_free(err);
    return KV_CONFLICT;
  }
  return fail("commit", st, err);
}

static void sd_txn_abort(kv_txn *t) {
  sochdb_error *err = NULL;
  sochdb_status st = sochdb_abort(t->t, &err);
  if (st != SOCHDB_OK) fail("abort", st, err);
  sochdb_txn_free(t->t);
  free(t);
}

const kv_driver kv_sochdb = {
    .name = "sochdb",
    .version = sochdb_version,
    .open = sd_open,
    .close = sd_close,
    .compact = sd_compact,
    .conn_open = sd_conn_open,
    .conn_close = sd_conn_close,
    .put = sd_put,
    .write_batch = sd_write_batch,
    .get = sd_get,
    .cursor_open = sd_cursor_open,
    .cursor_next = sd_cursor_next,
    .cursor_close = sd_cursor_close,
    .txn_begin = sd_txn_begin,
    .txn_get = sd_txn_get,
    .txn_put = sd_txn_put,
    .txn_commit = sd_txn_commit,
    .txn_abort = sd_txn_abort,
};
