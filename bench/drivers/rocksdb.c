/* RocksDB through its C API (rocksdb/c.h).
 *
 * Configuration: defaults, plus a 128 MiB LRU block cache and a 10 bits/key Bloom
 * filter (SochDB's defaults have both). Durability: sync = WriteOptions.sync, buffered =
 * sync off (the WAL is written to the OS on each write), none = WAL disabled (the close
 * flushes the memtable). Transactions use an OptimisticTransactionDB, opened only when a
 * workload asks for them; every other call goes to its base DB.
 */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../driver.h"

struct kv_db {
  rocksdb_t *db;                          /* the DB (the base DB when otxn is set) */
  rocksdb_optimistictransactiondb_t *otxn; /* set when opened with KV_OPEN_TXN */
  rocksdb_options_t *opts;
  rocksdb_block_based_table_options_t *topts;
  rocksdb_cache_t *cache;
  rocksdb_writeoptions_t *wopts;
  rocksdb_readoptions_t *ropts;
  rocksdb_optimistictransaction_options_t *txopts;
  enum kv_durability durability;
};

struct kv_conn {
  kv_db *db;
};

struct kv_cursor {
  rocksdb_iterator_t *it;
  int started;
};

struct kv_txn {
  kv_db *db;
  rocksdb_transaction_t *t;
};

static int fail(const char *what, char *err) {
  fprintf(stderr, "rocksdb: %s: %s\n", what, err ? err : "(no message)");
  rocksdb_free(err);
  return KV_ERR;
}

/* rocksdb/version.h is C++; the build passes its numbers in (bench/run.sh). */
#ifndef KV_ROCKSDB_VERSION
#define KV_ROCKSDB_VERSION "unknown"
#endif
static const char *rdb_version(void) { return KV_ROCKSDB_VERSION; }

static kv_db *rdb_open(const char *dir, enum kv_durability durability, unsigned flags) {
  kv_db *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->durability = durability;
  d->opts = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(d->opts, 1);
  d->topts = rocksdb_block_based_options_create();
  d->cache = rocksdb_cache_create_lru(128u << 20);
  rocksdb_block_based_options_set_block_cache(d->topts, d->cache);
  rocksdb_block_based_options_set_filter_policy(d->topts,
                                                rocksdb_filterpolicy_create_bloom(10));
  rocksdb_options_set_block_based_table_factory(d->opts, d->topts);
  d->wopts = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(d->wopts, durability == KV_SYNC);
  if (durability == KV_NONE) rocksdb_writeoptions_disable_WAL(d->wopts, 1);
  d->ropts = rocksdb_readoptions_create();
  char *err = NULL;
  if (flags & KV_OPEN_TXN) {
    d->otxn = rocksdb_optimistictransactiondb_open(d->opts, dir, &err);
    if (d->otxn) d->db = rocksdb_optimistictransactiondb_get_base_db(d->otxn);
    d->txopts = rocksdb_optimistictransaction_options_create();
  } else {
    d->db = rocksdb_open(d->opts, dir, &err);
  }
  if (err || !d->db) {
    fail("open", err);
    return NULL;
  }
  return d;
}

static int rdb_close(kv_db *d) {
  int rc = KV_OK;
  if (d->durability == KV_NONE) {
    /* The WAL was off: flush the memtable so the load survives the close. */
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *err = NULL;
    rocksdb_flush(d->db, fo, &err);
    rocksdb_flushoptions_destroy(fo);
    if (err) rc = fail("flush", err);
  }
  if (d->otxn) {
    rocksdb_optimistictransactiondb_close_base_db(d->db);
    rocksdb_optimistictransactiondb_close(d->otxn);
    rocksdb_optimistictransaction_options_destroy(d->txopts);
  } else {
    rocksdb_close(d->db);
  }
  rocksdb_readoptions_destroy(d->ropts);
  rocksdb_writeoptions_destroy(d->wopts);
  rocksdb_options_destroy(d->opts);
  rocksdb_block_based_options_destroy(d->topts);
  rocksdb_cache_destroy(d->cache);
  free(d);
  return rc;
}

static int rdb_compact(kv_db *d) {
  rocksdb_compact_range(d->db, NULL, 0, NULL, 0);
  return KV_OK;
}

static kv_conn *rdb_conn_open(kv_db *d) {
  kv_conn *c = malloc(sizeof *c);
  if (c) c->db = d;
  return c;
}

static void rdb_conn_close(kv_conn *c) { free(c); }

static int rdb_put(kv_conn *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  char *err = NULL;
  rocksdb_put(c->db->db, c->db->wopts, (const char *)k, kl, (const char *)v, vl, &err);
  return err ? fail("put", err) : KV_OK;
}

static int rdb_write_batch(kv_conn *c, const kv_pair *p, size_t n) {
  rocksdb_writebatch_t *b = rocksdb_writebatch_create();
  for (size_t i = 0; i < n; i++)
    rocksdb_writebatch_put(b, (const char *)p[i].key, p[i].klen, (const char *)p[i].val,
                           p[i].vlen);
  char *err = NULL;
  rocksdb_write(c->db->db, c->db->wopts, b, &err);
  rocksdb_writebatch_destroy(b);
  return err ? fail("write batch", err) : KV_OK;
}

static int copy_pinned(rocksdb_pinnableslice_t *ps, char *err, uint8_t *buf, size_t cap,
                       size_t *vlen, const char *what) {
  if (err) return fail(what, err);
  if (!ps) return KV_NOTFOUND;
  size_t n;
  const char *v = rocksdb_pinnableslice_value(ps, &n);
  memcpy(buf, v, n < cap ? n : cap);
  *vlen = n;
  rocksdb_pinnableslice_destroy(ps);
  return KV_OK;
}

static int rdb_get(kv_conn *c, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                   size_t *vlen) {
  char *err = NULL;
  rocksdb_pinnableslice_t *ps =
      rocksdb_get_pinned(c->db->db, c->db->ropts, (const char *)k, kl, &err);
  return copy_pinned(ps, err, buf, cap, vlen, "get");
}

static kv_cursor *rdb_cursor_open(kv_conn *c, const uint8_t *start, size_t sl) {
  kv_cursor *cur = malloc(sizeof *cur);
  if (!cur) return NULL;
  cur->it = rocksdb_create_iterator(c->db->db, c->db->ropts);
  if (start)
    rocksdb_iter_seek(cur->it, (const char *)start, sl);
  else
    rocksdb_iter_seek_to_first(cur->it);
  cur->started = 0;
  return cur;
}

static int rdb_cursor_next(kv_cursor *cur, const uint8_t **k, size_t *kl,
                           const uint8_t **v, size_t *vl) {
  if (cur->started) rocksdb_iter_next(cur->it);
  cur->started = 1;
  if (!rocksdb_iter_valid(cur->it)) {
    char *err = NULL;
    rocksdb_iter_get_error(cur->it, &err);
    return err ? fail("iterate", err) : KV_NOTFOUND;
  }
  *k = (const uint8_t *)rocksdb_iter_key(cur->it, kl);
  *v = (const uint8_t *)rocksdb_iter_value(cur->it, vl);
  return KV_OK;
}

static void rdb_cursor_close(kv_cursor *cur) {
  rocksdb_iter_destroy(cur->it);
  free(cur);
}

static kv_txn *rdb_txn_begin(kv_conn *c) {
  if (!c->db->otxn) {
    fprintf(stderr, "rocksdb: transaction on a database opened without KV_OPEN_TXN\n");
    return NULL;
  }
  kv_txn *t = malloc(sizeof *t);
  if (!t) return NULL;
  t->db = c->db;
  t->t = rocksdb_optimistictransaction_begin(c->db->otxn, c->db->wopts, c->db->txopts,
                                             NULL);
  return t;
}

static int rdb_txn_get(kv_txn *t, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                       size_t *vlen) {
  char *err = NULL;
  rocksdb_pinnableslice_t *ps = rocksdb_transaction_get_pinned_for_update(
      t->t, t->db->ropts, (const char *)k, kl, 1, &err);
  return copy_pinned(ps, err, buf, cap, vlen, "txn get");
}

static int rdb_txn_put(kv_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                       size_t vl) {
  char *err = NULL;
  rocksdb_transaction_put(t->t, (const char *)k, kl, (const char *)v, vl, &err);
  return err ? fail("txn put", err) : KV_OK;
}

static int rdb_txn_commit(kv_txn *t) {
  char *err = NULL;
  rocksdb_transaction_commit(t->t, &err);
  rocksdb_transaction_destroy(t->t);
  free(t);
  if (!err) return KV_OK;
  /* Optimistic validation failures come back as Busy ("Resource busy") or TryAgain. */
  if (strncmp(err, "Resource busy", 13) == 0 || strstr(err, "Try again")) {
    rocksdb_free(err);
    return KV_CONFLICT;
  }
  return fail("commit", err);
}

static void rdb_txn_abort(kv_txn *t) {
  char *err = NULL;
  rocksdb_transaction_rollback(t->t, &err);
  if (err) fail("rollback", err);
  rocksdb_transaction_destroy(t->t);
  free(t);
}

const kv_driver kv_rocksdb = {
    .name = "rocksdb",
    .version = rdb_version,
    .open = rdb_open,
    .close = rdb_close,
    .compact = rdb_compact,
    .conn_open = rdb_conn_open,
    .conn_close = rdb_conn_close,
    .put = rdb_put,
    .write_batch = rdb_write_batch,
    .get = rdb_get,
    .cursor_open = rdb_cursor_open,
    .cursor_next = rdb_cursor_next,
    .cursor_close = rdb_cursor_close,
    .txn_begin = rdb_txn_begin,
    .txn_get = rdb_txn_get,
    .txn_put = rdb_txn_put,
    .txn_commit = rdb_txn_commit,
    .txn_abort = rdb_txn_abort,
};
