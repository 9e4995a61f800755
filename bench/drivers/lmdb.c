/* LMDB through lmdb.h.
 *
 * Configuration: defaults with MDB_NOTLS (read transactions belong to the handle, not
 * the thread) and a 64 GiB map (address space only; the file grows as data does).
 * Durability: sync = the default (data and meta page synced at commit), buffered and
 * none = MDB_NOSYNC (commits are written to the OS, never synced; the close syncs).
 * Reads renew a per-thread read transaction and reset it afterwards, the cheap LMDB
 * idiom for short reads. Writers serialise on LMDB's single writer lock, so the
 * transactions never conflict.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../driver.h"

struct kv_db {
  MDB_env *env;
  MDB_dbi dbi;
  enum kv_durability durability;
};

struct kv_cursor {
  struct kv_conn *conn;
  MDB_cursor *cur;
  MDB_cursor_op first_op; /* MDB_SET_RANGE or MDB_FIRST until the first entry */
  MDB_val start;
};

struct kv_conn {
  kv_db *db;
  MDB_txn *rtxn;  /* read-only transaction, reset between reads */
  MDB_cursor *rcur; /* cursor bound to rtxn, renewed per range read */
  struct kv_cursor cursor; /* the one range read a connection has open at a time */
};

struct kv_txn {
  kv_db *db;
  MDB_txn *t;
};

static int fail(const char *what, int rc) {
  fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
  return KV_ERR;
}

static const char *lm_version(void) {
  static char v[32];
  int major, minor, patch;
  mdb_version(&major, &minor, &patch);
  snprintf(v, sizeof v, "%d.%d.%d", major, minor, patch);
  return v;
}

static kv_db *lm_open(const char *dir, enum kv_durability durability, unsigned flags) {
  (void)flags;
  kv_db *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->durability = durability;
  int rc = mdb_env_create(&d->env);
  if (rc) goto bad;
  if ((rc = mdb_env_set_mapsize(d->env, (size_t)64 << 30))) goto bad;
  if ((rc = mdb_env_set_maxreaders(d->env, 512))) goto bad;
  unsigned envflags = MDB_NOTLS;
  if (durability != KV_SYNC) envflags |= MDB_NOSYNC;
  if ((rc = mdb_env_open(d->env, dir, envflags, 0644))) goto bad;
  MDB_txn *t;
  if ((rc = mdb_txn_begin(d->env, NULL, 0, &t))) goto bad;
  if ((rc = mdb_dbi_open(t, NULL, 0, &d->dbi))) {
    mdb_txn_abort(t);
    goto bad;
  }
  if ((rc = mdb_txn_commit(t))) goto bad;
  return d;
bad:
  fail("open", rc);
  if (d->env) mdb_env_close(d->env);
  free(d);
  return NULL;
}

static int lm_close(kv_db *d) {
  int rc = KV_OK;
  if (d->durability != KV_SYNC) {
    int e = mdb_env_sync(d->env, 1);
    if (e) rc = fail("sync at close", e);
  }
  mdb_env_close(d->env);
  free(d);
  return rc;
}

static kv_conn *lm_conn_open(kv_db *d) {
  kv_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->db = d;
  int rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, &c->rtxn);
  if (!rc) rc = mdb_cursor_open(c->rtxn, d->dbi, &c->rcur);
  if (rc) {
    fail("begin read transaction", rc);
    if (c->rtxn) mdb_txn_abort(c->rtxn);
    free(c);
    return NULL;
  }
  mdb_txn_reset(c->rtxn);
  return c;
}

static void lm_conn_close(kv_conn *c) {
  mdb_cursor_close(c->rcur);
  mdb_txn_abort(c->rtxn);
  free(c);
}

static int lm_write(kv_db *d, const kv_pair *p, size_t n) {
  MDB_txn *t;
  int rc = mdb_txn_begin(d->env, NULL, 0, &t);
  if (rc) return fail("begin", rc);
  for (size_t i = 0; i < n; i++) {
    MDB_val k = {p[i].klen, (void *)p[i].key}, v = {p[i].vlen, (void *)p[i].val};
    if ((rc = mdb_put(t, d->dbi, &k, &v, 0))) {
      mdb_txn_abort(t);
      return fail("put", rc);
    }
  }
  if ((rc = mdb_txn_commit(t))) return fail("commit", rc);
  return KV_OK;
}

static int lm_put(kv_conn *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  kv_pair p = {k, kl, v, vl};
  return lm_write(c->db, &p, 1);
}

static int lm_write_batch(kv_conn *c, const kv_pair *p, size_t n) {
  return lm_write(c->db, p, n);
}

static int get_in(MDB_txn *t, MDB_dbi dbi, const uint8_t *k, size_t kl, uint8_t *buf,
                  size_t cap, size_t *vlen) {
  MDB_val key = {kl, (void *)k}, v;
  int rc = mdb_get(t, dbi, &key, &v);
  if (rc == MDB_NOTFOUND) return KV_NOTFOUND;
  if (rc) return fail("get", rc);
  memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
  *vlen = v.mv_size;
  return KV_OK;
}

static int lm_get(kv_conn *c, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                  size_t *vlen) {
  int rc = mdb_txn_renew(c->rtxn);
  if (rc) return fail("renew read transaction", rc);
  int r = get_in(c->rtxn, c->db->dbi, k, kl, buf, cap, vlen);
  mdb_txn_reset(c->rtxn);
  return r;
}

static kv_cursor *lm_cursor_open(kv_conn *c, const uint8_t *start, size_t sl) {
  int rc = mdb_txn_renew(c->rtxn);
  if (!rc) rc = mdb_cursor_renew(c->rtxn, c->rcur);
  if (rc) {
    fail("open cursor", rc);
    mdb_txn_reset(c->rtxn);
    return NULL;
  }
  kv_cursor *cur = &c->cursor;
  cur->conn = c;
  cur->cur = c->rcur;
  cur->first_op = start ? MDB_SET_RANGE : MDB_FIRST;
  cur->start.mv_data = (void *)start;
  cur->start.mv_size = sl;
  return cur;
}

static int lm_cursor_next(kv_cursor *cur, const uint8_t **k, size_t *kl,
                          const uint8_t **v, size_t *vl) {
  MDB_val key = cur->start, val;
  MDB_cursor_op op = cur->first_op;
  cur->first_op = MDB_NEXT;
  int rc = mdb_cursor_get(cur->cur, &key, &val, op);
  if (rc == MDB_NOTFOUND) return KV_NOTFOUND;
  if (rc) return fail("cursor", rc);
  *k = key.mv_data;
  *kl = key.mv_size;
  *v = val.mv_data;
  *vl = val.mv_size;
  return KV_OK;
}

static void lm_cursor_close(kv_cursor *cur) { mdb_txn_reset(cur->conn->rtxn); }

static kv_txn *lm_txn_begin(kv_conn *c) {
  kv_txn *t = malloc(sizeof *t);
  if (!t) return NULL;
  t->db = c->db;
  int rc = mdb_txn_begin(c->db->env, NULL, 0, &t->t);
  if (rc) {
    fail("begin", rc);
    free(t);
    return NULL;
  }
  return t;
}

static int lm_txn_get(kv_txn *t, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                      size_t *vlen) {
  return get_in(t->t, t->db->dbi, k, kl, buf, cap, vlen);
}

static int lm_txn_put(kv_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                      size_t vl) {
  MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
  int rc = mdb_put(t->t, t->db->dbi, &key, &val, 0);
  return rc ? fail("txn put", rc) : KV_OK;
}

static int lm_txn_commit(kv_txn *t) {
  int rc = mdb_txn_commit(t->t);
  free(t);
  return rc ? fail("commit", rc) : KV_OK;
}

static void lm_txn_abort(kv_txn *t) {
  mdb_txn_abort(t->t);
  free(t);
}

const kv_driver kv_lmdb = {
    .name = "lmdb",
    .version = lm_version,
    .open = lm_open,
    .close = lm_close,
    .compact = NULL,
    .conn_open = lm_conn_open,
    .conn_close = lm_conn_close,
    .put = lm_put,
    .write_batch = lm_write_batch,
    .get = lm_get,
    .cursor_open = lm_cursor_open,
    .cursor_next = lm_cursor_next,
    .cursor_close = lm_cursor_close,
    .txn_begin = lm_txn_begin,
    .txn_get = lm_txn_get,
    .txn_put = lm_txn_put,
    .txn_commit = lm_txn_commit,
    .txn_abort = lm_txn_abort,
};
