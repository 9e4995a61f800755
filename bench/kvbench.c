/* kvbench: one program that drives every engine through its own C API (driver.h) with
 * the same workloads, keys and values, and writes one JSON line per measured run.
 *
 *   kvbench [--engines a,b] [--workloads w[/durability],...] [--keys N] [--reps R]
 *           [--seconds S] [--ops N] [--reopen-keys N] [--dir DIR] [--out FILE]
 *
 * Every run happens in a child process forked for it, so that its peak resident memory
 * (the child's ru_maxrss) belongs to that engine and workload alone. Every run checks
 * what it read or wrote (a read hit finds every key, a miss none, a scan every key in
 * order, a transaction mix loses no increment); a run that fails its check, or whose
 * engine reports an error, counts as failed. The last line printed is
 * "N passed, M failed"; the exit status is non-zero when M > 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"

extern const kv_driver kv_rocksdb, kv_lmdb, kv_sqlite;
#ifdef KV_WITH_SOCHDB
extern const kv_driver kv_sochdb;
#endif

static const kv_driver *const all_drivers[] = {
#ifdef KV_WITH_SOCHDB
    &kv_sochdb,
#endif
    &kv_rocksdb, &kv_lmdb, &kv_sqlite,
};
#define N_DRIVERS (sizeof all_drivers / sizeof all_drivers[0])

#define KLEN 16
#define VLEN 100
#define BATCH 1000        /* entries per commit in bulk loads */
#define REOPEN_BATCH 100  /* entries per commit while filling the memtable to crash */
#define SEEK_ENTRIES 11   /* seek, then 10 next */
#define MAX_THREADS 64
#define MAX_RETRIES 10000 /* conflicts one transaction may hit before it is an error */

/* ---- configuration ---------------------------------------------------------------- */

static struct {
  uint64_t keys;        /* live keys in the main database */
  double seconds;       /* time limit of the time-limited workloads (0: none) */
  uint64_t ops;         /* operation limit of those workloads (0: their default) */
  uint64_t reopen_keys; /* entries written before the crash of the reopen workload */
  int reps;
  const char *dir;
  FILE *out;
  double timeout; /* seconds one run may take before it is killed and counted failed */
} cfg = {1000000, 2.0, 0, 500000, 1, "bench/out/data", NULL, 300};

/* ---- keys, values, clock, random numbers ----------------------------------------- */

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s) { return mix64((*s)++); }

/* Key i: its index big-endian (so key order is index order), 7 hashed bytes, and a tag
 * byte: 0 for the keys that are written, 1 for the keys a miss looks up, each of which
 * sorts just after the written key of the same index. */
static void make_key(uint8_t *k, uint64_t i, int miss) {
  for (int b = 0; b < 8; b++) k[b] = (uint8_t)(i >> (56 - 8 * b));
  uint64_t h = mix64(i ^ 0x5eed);
  memcpy(k + 8, &h, 7);
  k[15] = miss ? 1 : 0;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Value layout (100 bytes, no byte of it predictable from the key or from another
 * value, so that no engine gains from compressing it): [0,8) a check word of the key
 * index, [8,16) a serial number that differs for every write, [16,24) an increment count
 * and [24,32) the id of the transaction-mix run that last counted it, both masked with
 * words derived from the serial, [32,100) bytes derived from the serial. */
#define V_SERIAL 8
static uint64_t key_check(uint64_t i) { return mix64(i ^ 0xc0ffee1234567ull); }

static void make_value(uint8_t *v, uint64_t i, uint64_t count, uint64_t serial,
                       uint64_t run) {
  put64(v, key_check(i));
  put64(v + V_SERIAL, serial);
  put64(v + 16, count ^ mix64(serial ^ 1));
  put64(v + 24, run ^ mix64(serial ^ 2));
  uint64_t s = serial;
  for (int off = 32; off < VLEN; off += 8) {
    s = mix64(s);
    memcpy(v + off, &s, VLEN - off < 8 ? (size_t)(VLEN - off) : 8);
  }
}

/* Whether v is a value written for key i. */
static int value_is_for(const uint8_t *v, size_t vl, uint64_t i) {
  return vl == VLEN && get64(v) == key_check(i);
}

/* The increment count of a value, counted from transaction-mix run `run` (0 when an
 * earlier run or a plain write stored it). */
static uint64_t value_count(const uint8_t *v, uint64_t run) {
  uint64_t serial = get64(v + V_SERIAL);
  if ((get64(v + 24) ^ mix64(serial ^ 2)) != run) return 0;
  return get64(v + 16) ^ mix64(serial ^ 1);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* A number that differs between runs, so that no run rewrites an earlier run's value. */
static uint64_t run_nonce(void) {
  return mix64(now_ns() ^ ((uint64_t)getpid() << 32)) & 0x0000ffffffffffffull;
}

/* ---- latency histogram: 64 linear steps per power of two (under 1.6% error) -------- */

#define H_SUB 64
#define H_BUCKETS (H_SUB * 42)
typedef struct {
  uint64_t b[H_BUCKETS];
  uint64_t n;
} hist;

static void hist_add(hist *h, uint64_t ns) {
  unsigned i;
  if (ns < H_SUB) {
    i = (unsigned)ns;
  } else {
    unsigned e = 63u - (unsigned)__builtin_clzll(ns);
    i = (e - 5) * H_SUB + (unsigned)((ns >> (e - 6)) & (H_SUB - 1));
    if (i >= H_BUCKETS) i = H_BUCKETS - 1;
  }
  h->b[i]++;
  h->n++;
}

static void hist_merge(hist *into, const hist *from) {
  for (unsigned i = 0; i < H_BUCKETS; i++) into->b[i] += from->b[i];
  into->n += from->n;
}

/* The p-quantile in microseconds (middle of its bucket), or -1 with no samples. */
static double hist_quantile(const hist *h, double p) {
  if (h->n == 0) return -1;
  uint64_t want = (uint64_t)(p * (double)h->n);
  if (want >= h->n) want = h->n - 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < H_BUCKETS; i++) {
    seen += h->b[i];
    if (seen > want) {
      if (i < H_SUB) return (i + 0.5) / 1000.0;
      unsigned e = i / H_SUB + 5, sub = i % H_SUB;
      double width = (double)(1ull << (e - 6));
      return ((double)(H_SUB + sub) * width + width / 2) / 1000.0;
    }
  }
  return -1;
}

/* ---- results ----------------------------------------------------------------------- */

/* What a run's child process reports to the parent. */
typedef struct {
  int ok;
  uint64_t ops;         /* operations (entries for loads and scans) in the timed phase */
  double secs;          /* length of the timed phase */
  double p50_us, p99_us; /* per operation (per batch for loads); -1 when not measured */
  double writer_ops_s;  /* read_while_writing: the writer's rate */
  uint64_t conflicts;   /* transaction mix: commits retried */
  double reopen_ms;     /* reopen: open plus first read after the crash */
  char note[240];       /* why the run failed */
} result;

static void note(result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(result *r, const char *fmt, ...) {
  r->ok = 0;
  if (r->note[0]) return; /* keep the first reason */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->note, sizeof r->note, fmt, ap);
  va_end(ap);
}

/* ---- workloads --------------------------------------------------------------------- */

typedef struct workload workload;
typedef void (*run_fn)(const kv_driver *drv, kv_db *db, const workload *w, result *r);

struct workload {
  const char *name;
  const char *label;          /* durability label of the row */
  enum kv_durability durability; /* what the database is opened with */
  int threads;
  int on_main;                /* runs on the loaded main database */
  unsigned open_flags;
  run_fn run;
  int compact_after;          /* full compaction (untimed) before the size is taken */
};

/* Per-thread state of a timed phase. */
typedef struct worker {
  const kv_driver *drv;
  kv_db *db;
  kv_conn *conn;
  const workload *w;
  int tid;
  uint64_t rng;
  uint64_t max_ops;
  hist h;
  uint64_t ops, errors, bad, conflicts;
  void *arg;       /* the workload's shared or per-thread argument */
  void *scratch;   /* what body leaves for check */
  char why[160];   /* first failure this thread saw */
  void (*body)(struct worker *);  /* the timed part */
  void (*check)(struct worker *); /* untimed, once every thread's body is done */
} worker;

/* Shared by the threads of one timed phase. */
static struct {
  pthread_barrier_t ready, go, done;
  uint64_t start_ns, deadline_ns;
  atomic_int stop;
} phase;

static void why(worker *wk, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(worker *wk, const char *fmt, ...) {
  if (wk->why[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(wk->why, sizeof wk->why, fmt, ap);
  va_end(ap);
}

static int past_deadline(uint64_t t) {
  return (phase.deadline_ns && t >= phase.deadline_ns) || atomic_load(&phase.stop);
}

/* Operation limit of a time-limited workload. */
static uint64_t op_limit(uint64_t dflt) { return cfg.ops ? cfg.ops : dflt; }

static void *worker_main(void *p) {
  worker *wk = p;
  wk->conn = wk->drv->conn_open(wk->db);
  if (!wk->conn) {
    why(wk, "connection failed");
    wk->errors++;
    atomic_store(&phase.stop, 1);
  }
  pthread_barrier_wait(&phase.ready);
  pthread_barrier_wait(&phase.go);
  if (wk->conn) wk->body(wk);
  pthread_barrier_wait(&phase.done);
  if (wk->conn && wk->check && !wk->errors) wk->check(wk);
  if (wk->conn) wk->drv->conn_close(wk->conn);
  return NULL;
}

/* Runs body on n threads, each with its own connection, timing the phase from the
 * moment every connection is open to the moment the last body returns; then runs
 * check (untimed) on every thread, and sums the threads' figures into r. */
static void run_threads(const kv_driver *drv, kv_db *db, const workload *w, int n,
                        void (*body)(worker *), void (*check)(worker *), void *arg,
                        uint64_t max_ops, worker *wks, result *r) {
  pthread_t th[MAX_THREADS];
  pthread_barrier_init(&phase.ready, NULL, (unsigned)n + 1);
  pthread_barrier_init(&phase.go, NULL, (unsigned)n + 1);
  pthread_barrier_init(&phase.done, NULL, (unsigned)n + 1);
  atomic_store(&phase.stop, 0);
  uint64_t seed = run_nonce();
  for (int i = 0; i < n; i++) {
    memset(&wks[i], 0, sizeof wks[i]);
    wks[i].drv = drv;
    wks[i].db = db;
    wks[i].w = w;
    wks[i].tid = i;
    wks[i].rng = mix64(seed + (uint64_t)i * 7919);
    wks[i].max_ops = max_ops;
    wks[i].arg = arg;
    wks[i].body = body;
    wks[i].check = check;
    pthread_create(&th[i], NULL, worker_main, &wks[i]);
  }
  pthread_barrier_wait(&phase.ready);
  phase.start_ns = now_ns();
  phase.deadline_ns = cfg.seconds > 0 ? phase.start_ns + (uint64_t)(cfg.seconds * 1e9) : 0;
  pthread_barrier_wait(&phase.go);
  pthread_barrier_wait(&phase.done);
  uint64_t end = now_ns();
  hist all;
  memset(&all, 0, sizeof all);
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    r->ops += wks[i].ops;
    r->conflicts += wks[i].conflicts;
    hist_merge(&all, &wks[i].h);
    if (wks[i].why[0]) note(r, "thread %d: %s", i, wks[i].why);
    if (wks[i].errors) note(r, "thread %d: %" PRIu64 " engine errors", i, wks[i].errors);
    if (wks[i].bad) note(r, "thread %d: %" PRIu64 " wrong results", i, wks[i].bad);
  }
  pthread_barrier_destroy(&phase.ready);
  pthread_barrier_destroy(&phase.go);
  pthread_barrier_destroy(&phase.done);
  r->secs = (double)(end - phase.start_ns) / 1e9;
  r->p50_us = hist_quantile(&all, 0.50);
  r->p99_us = hist_quantile(&all, 0.99);
}

/* Checks that key i holds a value written for it, with the given serial when nonzero;
 * on success copies the value into out (when given). Returns 0 when it does. */
static int check_value(worker *wk, uint64_t i, uint64_t serial, uint8_t *out) {
  uint8_t key[KLEN], buf[VLEN + 16];
  size_t vl = 0;
  make_key(key, i, 0);
  int rc = wk->drv->get(wk->conn, key, KLEN, buf, sizeof buf, &vl);
  if (rc == KV_NOTFOUND) {
    why(wk, "key %" PRIu64 " not found", i);
  } else if (rc != KV_OK) {
    why(wk, "get of key %" PRIu64 " failed", i);
  } else if (!value_is_for(buf, vl, i)) {
    why(wk, "key %" PRIu64 ": wrong value (length %zu)", i, vl);
  } else if (serial && get64(buf + V_SERIAL) != serial) {
    why(wk, "key %" PRIu64 ": value is not the last one written", i);
  } else {
    if (out) memcpy(out, buf, VLEN);
    return 0;
  }
  wk->bad++;
  return -1;
}

static uint32_t *permutation(uint64_t n, uint64_t seed) {
  uint32_t *p = malloc((n ? n : 1) * sizeof *p);
  if (!p) return NULL;
  for (uint64_t i = 0; i < n; i++) p[i] = (uint32_t)i;
  for (uint64_t i = n; i > 1; i--) {
    uint64_t j = rng_next(&seed) % i;
    uint32_t t = p[i - 1];
    p[i - 1] = p[j];
    p[j] = t;
  }
  return p;
}

/* -- bulk loads: fill_seq, fill_random, overwrite ------------------------------------ */

typedef struct {
  uint32_t *order; /* index written at each position; NULL for sequential */
  uint64_t n;      /* keys written */
  uint64_t nonce;  /* the serial of key i is nonce + i */
  size_t batch;    /* entries per commit */
} load_arg;

static void load_body(worker *wk) {
  load_arg *a = wk->arg;
  uint8_t *keys = malloc(a->batch * KLEN), *vals = malloc(a->batch * VLEN);
  kv_pair *pairs = malloc(a->batch * sizeof *pairs);
  if (!keys || !vals || !pairs) {
    why(wk, "out of memory");
    wk->errors++;
  }
  for (uint64_t pos = 0; pos < a->n && !wk->errors; pos += a->batch) {
    size_t m = a->n - pos < a->batch ? (size_t)(a->n - pos) : a->batch;
    for (size_t j = 0; j < m; j++) {
      uint64_t i = a->order ? a->order[pos + j] : pos + j;
      make_key(keys + j * KLEN, i, 0);
      make_value(vals + j * VLEN, i, 0, a->nonce + i, 0);
      pairs[j] = (kv_pair){keys + j * KLEN, KLEN, vals + j * VLEN, VLEN};
    }
    uint64_t t0 = now_ns();
    int rc = wk->drv->write_batch(wk->conn, pairs, m);
    hist_add(&wk->h, now_ns() - t0);
    if (rc != KV_OK) {
      wk->errors++;
      break;
    }
    wk->ops += m;
  }
  free(keys);
  free(vals);
  free(pairs);
}

/* A spread of 1000 keys and the last one written hold the values just written. */
static void load_check(worker *wk) {
  load_arg *a = wk->arg;
  if (wk->ops != a->n) {
    why(wk, "wrote %" PRIu64 " of %" PRIu64 " keys", wk->ops, a->n);
    wk->bad++;
    return;
  }
  for (uint64_t s = 0; s < 1000 && a->n; s++) {
    uint64_t i = s * a->n / 1000;
    if (check_value(wk, i, a->nonce + i, NULL)) return;
  }
  if (a->n) {
    uint64_t last = a->order ? a->order[a->n - 1] : a->n - 1;
    check_value(wk, last, a->nonce + last, NULL);
  }
}

static void run_load(const kv_driver *drv, kv_db *db, const workload *w, result *r,
                     int random_order) {
  load_arg a = {NULL, cfg.keys, run_nonce() << 16, BATCH};
  if (random_order && !(a.order = permutation(cfg.keys, a.nonce))) {
    note(r, "out of memory");
    return;
  }
  worker wk[1];
  run_threads(drv, db, w, 1, load_body, load_check, &a, 0, wk, r);
  free(a.order);
}

static void run_fill_seq(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  run_load(d, db, w, r, 0);
}
static void run_fill_random(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  run_load(d, db, w, r, 1);
}

/* -- point reads ---------------------------------------------------------------------- */

/* Random gets of written keys (miss = 0: each found with its own value) or of keys never
 * written (miss = 1: none found). */
static void read_loop(worker *wk, int miss) {
  uint8_t key[KLEN], buf[VLEN + 16];
  size_t vl = 0;
  while (wk->ops < wk->max_ops) {
    uint64_t i = rng_next(&wk->rng) % cfg.keys;
    make_key(key, i, miss);
    uint64_t t0 = now_ns();
    int rc = wk->drv->get(wk->conn, key, KLEN, buf, sizeof buf, &vl);
    uint64_t t1 = now_ns();
    hist_add(&wk->h, t1 - t0);
    wk->ops++;
    if (rc == KV_ERR) {
      wk->errors++;
      break;
    }
    if (miss ? rc != KV_NOTFOUND
             : rc != KV_OK || !value_is_for(buf, vl, i)) {
      why(wk, "lookup of %s key %" PRIu64 " gave a wrong answer", miss ? "absent" : "present",
          i);
      wk->bad++;
    }
    if (past_deadline(t1)) break;
  }
}

static void hit_body(worker *wk) { read_loop(wk, 0); }
static void miss_body(worker *wk) { read_loop(wk, 1); }

static void run_read_hit(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  worker wk[1];
  run_threads(d, db, w, 1, hit_body, NULL, NULL, op_limit(cfg.keys), wk, r);
}
static void run_read_miss(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  worker wk[1];
  run_threads(d, db, w, 1, miss_body, NULL, NULL, op_limit(cfg.keys), wk, r);
}

/* -- range reads ---------------------------------------------------------------------- */

/* Reads up to want entries from a cursor opened at key i (or at the first key) and checks
 * that they are keys i, i+1, ... with their own values. Returns how many it read. */
static uint64_t range_read(worker *wk, uint64_t i, int from_first, uint64_t want) {
  uint8_t start[KLEN], expect[KLEN];
  make_key(start, i, 0);
  kv_cursor *cur = wk->drv->cursor_open(wk->conn, from_first ? NULL : start, KLEN);
  if (!cur) {
    wk->errors++;
    return 0;
  }
  uint64_t got = 0;
  const uint8_t *k, *v;
  size_t kl, vl;
  while (got < want) {
    int rc = wk->drv->cursor_next(cur, &k, &kl, &v, &vl);
    if (rc == KV_NOTFOUND) break;
    if (rc != KV_OK) {
      wk->errors++;
      break;
    }
    make_key(expect, i + got, 0);
    if (kl != KLEN || memcmp(k, expect, KLEN) != 0 || !value_is_for(v, vl, i + got)) {
      why(wk, "range read from key %" PRIu64 ": entry %" PRIu64 " is wrong", i, got);
      wk->bad++;
      break;
    }
    got++;
  }
  wk->drv->cursor_close(cur);
  return got;
}

static void seek_body(worker *wk) {
  while (wk->ops < wk->max_ops) {
    uint64_t i = rng_next(&wk->rng) % cfg.keys;
    uint64_t want = cfg.keys - i < SEEK_ENTRIES ? cfg.keys - i : SEEK_ENTRIES;
    uint64_t t0 = now_ns();
    uint64_t got = range_read(wk, i, 0, SEEK_ENTRIES);
    uint64_t t1 = now_ns();
    hist_add(&wk->h, t1 - t0);
    wk->ops++;
    if (wk->errors || wk->bad) break;
    if (got != want) {
      why(wk, "seek to key %" PRIu64 " gave %" PRIu64 " entries, want %" PRIu64, i, got,
          want);
      wk->bad++;
      break;
    }
    if (past_deadline(t1)) break;
  }
}

static void scan_body(worker *wk) {
  wk->ops = range_read(wk, 0, 1, UINT64_MAX);
  if (!wk->errors && !wk->bad && wk->ops != cfg.keys) {
    why(wk, "scan saw %" PRIu64 " of %" PRIu64 " keys", wk->ops, cfg.keys);
    wk->bad++;
  }
}

static void run_seek(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  worker wk[1];
  run_threads(d, db, w, 1, seek_body, NULL, NULL, op_limit(cfg.keys), wk, r);
}

static void run_scan(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  worker wk[1];
  run_threads(d, db, w, 1, scan_body, NULL, NULL, 0, wk, r);
  r->p50_us = r->p99_us = -1; /* one long operation: no per-entry latency */
}

/* -- reads while one thread writes ---------------------------------------------------- */

static void rww_body(worker *wk) {
  if (wk->tid == 1) {
    read_loop(wk, 0);
    atomic_store(&phase.stop, 1);
    return;
  }
  uint8_t key[KLEN], val[VLEN];
  uint64_t nonce = run_nonce() << 16;
  while (!atomic_load(&phase.stop)) {
    uint64_t i = rng_next(&wk->rng) % cfg.keys;
    make_key(key, i, 0);
    make_value(val, i, 0, nonce + wk->ops, 0);
    int rc = wk->drv->put(wk->conn, key, KLEN, val, VLEN);
    if (rc != KV_OK) {
      wk->errors++;
      break;
    }
    wk->ops++;
    if (past_deadline(now_ns())) break;
  }
}

static void run_rww(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  worker wk[2];
  run_threads(d, db, w, 2, rww_body, NULL, NULL, op_limit(cfg.keys), wk, r);
  /* The row reports the reader; the writer's rate is a field of its own. */
  r->ops = wk[1].ops;
  r->p50_us = hist_quantile(&wk[1].h, 0.50);
  r->p99_us = hist_quantile(&wk[1].h, 0.99);
  r->writer_ops_s = r->secs > 0 ? (double)wk[0].ops / r->secs : 0;
}

/* -- commits: one put per commit, n threads ------------------------------------------- */

typedef struct {
  uint32_t *order; /* this thread's keys, in writing order */
  uint64_t nonce;  /* serial of the j-th write is nonce + j */
} commit_state;

/* Thread t of n writes only keys i with i % n == t, each at most once, in random order,
 * so that the last value of every key it wrote is known. */
static void commit_body(worker *wk) {
  uint64_t n = (uint64_t)wk->w->threads;
  uint64_t part = cfg.keys / n;
  uint64_t limit = wk->max_ops < part ? wk->max_ops : part;
  commit_state *s = malloc(sizeof *s);
  if (!s || !(s->order = permutation(part, wk->rng))) {
    free(s);
    why(wk, "out of memory");
    wk->errors++;
    return;
  }
  wk->scratch = s;
  s->nonce = (run_nonce() << 16) + ((uint64_t)wk->tid << 40);
  uint8_t key[KLEN], val[VLEN];
  for (uint64_t j = 0; j < limit; j++) {
    uint64_t i = (uint64_t)s->order[j] * n + (uint64_t)wk->tid;
    make_key(key, i, 0);
    make_value(val, i, 0, s->nonce + j, 0);
    uint64_t t0 = now_ns();
    int rc = wk->drv->put(wk->conn, key, KLEN, val, VLEN);
    uint64_t t1 = now_ns();
    hist_add(&wk->h, t1 - t0);
    if (rc != KV_OK) {
      wk->errors++;
      break;
    }
    wk->ops++;
    if (past_deadline(t1)) break;
  }
}

/* Every 64th write and the last 16 of this thread can be read back. */
static void commit_check(worker *wk) {
  commit_state *s = wk->scratch;
  uint64_t n = (uint64_t)wk->w->threads;
  for (uint64_t j = 0; j < wk->ops; j++) {
    if (j % 64 != 0 && j + 16 < wk->ops) continue;
    uint64_t i = (uint64_t)s->order[j] * n + (uint64_t)wk->tid;
    if (check_value(wk, i, s->nonce + j, NULL)) break;
  }
}

static void run_commits(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  worker wk[MAX_THREADS];
  run_threads(d, db, w, w->threads, commit_body, commit_check, NULL, op_limit(cfg.keys), wk,
              r);
  for (int i = 0; i < w->threads; i++) {
    commit_state *s = wk[i].scratch;
    if (s) free(s->order);
    free(s);
  }
}

/* -- read-modify-write transactions --------------------------------------------------- */

typedef struct {
  _Atomic uint32_t *incr; /* per key: increments committed in this run */
  uint64_t run;           /* this run's id, stored in the values it writes */
} rmw_arg;

/* One transaction: read keys a and b, write both back with their count plus one. */
static int rmw_once(worker *wk, const rmw_arg *a, const uint64_t idx[2], uint64_t serial) {
  kv_txn *t = wk->drv->txn_begin(wk->conn);
  if (!t) return KV_ERR;
  uint8_t key[2][KLEN], val[VLEN + 16];
  uint64_t cnt[2];
  size_t vl = 0;
  for (int j = 0; j < 2; j++) {
    make_key(key[j], idx[j], 0);
    int rc = wk->drv->txn_get(t, key[j], KLEN, val, sizeof val, &vl);
    if (rc != KV_OK || !value_is_for(val, vl, idx[j])) {
      wk->drv->txn_abort(t);
      if (rc == KV_CONFLICT) return KV_CONFLICT;
      if (rc != KV_ERR) {
        why(wk, "transaction read of key %" PRIu64 " gave a wrong answer", idx[j]);
        wk->bad++;
      }
      return KV_ERR;
    }
    cnt[j] = value_count(val, a->run);
  }
  for (int j = 0; j < 2; j++) {
    make_value(val, idx[j], cnt[j] + 1, serial + (uint64_t)j, a->run);
    if (wk->drv->txn_put(t, key[j], KLEN, val, VLEN) != KV_OK) {
      wk->drv->txn_abort(t);
      return KV_ERR;
    }
  }
  return wk->drv->txn_commit(t);
}

static void rmw_body(worker *wk) {
  const rmw_arg *a = wk->arg;
  uint64_t nonce = (run_nonce() << 16) + ((uint64_t)wk->tid << 40);
  while (wk->ops < wk->max_ops) {
    uint64_t idx[2];
    idx[0] = rng_next(&wk->rng) % cfg.keys;
    do idx[1] = rng_next(&wk->rng) % cfg.keys;
    while (idx[1] == idx[0]);
    uint64_t t0 = now_ns();
    int rc, tries = 0;
    while ((rc = rmw_once(wk, a, idx, nonce + 2 * wk->ops)) == KV_CONFLICT &&
           ++tries < MAX_RETRIES)
      wk->conflicts++;
    uint64_t t1 = now_ns();
    hist_add(&wk->h, t1 - t0);
    if (rc != KV_OK) {
      if (rc == KV_CONFLICT) why(wk, "a transaction conflicted %d times", tries);
      wk->errors++;
      break;
    }
    atomic_fetch_add(&a->incr[idx[0]], 1);
    atomic_fetch_add(&a->incr[idx[1]], 1);
    wk->ops++;
    if (past_deadline(t1)) break;
  }
}

/* Every key a committed transaction touched counts exactly its committed increments:
 * no lost update, no increment from a transaction that did not commit. */
static void rmw_check(worker *wk) {
  const rmw_arg *a = wk->arg;
  if (wk->tid != 0) return;
  uint8_t val[VLEN];
  for (uint64_t i = 0; i < cfg.keys; i++) {
    uint32_t want = atomic_load(&a->incr[i]);
    if (!want) continue;
    if (check_value(wk, i, 0, val)) return;
    uint64_t got = value_count(val, a->run);
    if (got != want) {
      why(wk, "key %" PRIu64 " counts %" PRIu64 " increments, %u were committed", i, got,
          want);
      wk->bad++;
      return;
    }
  }
}

static void run_rmw(const kv_driver *d, kv_db *db, const workload *w, result *r) {
  rmw_arg a = {calloc(cfg.keys, sizeof(uint32_t)), run_nonce()};
  if (!a.incr) {
    note(r, "out of memory");
    return;
  }
  worker wk[MAX_THREADS];
  run_threads(d, db, w, w->threads, rmw_body, rmw_check, &a, op_limit(cfg.keys), wk, r);
  free((void *)a.incr);
}

/* -- the workloads, in the order they run --------------------------------------------- */

static const workload workloads[] = {
    {"fill_seq", "none", KV_NONE, 1, 1, 0, run_fill_seq, 0},
    {"read_hit", "read", KV_BUFFERED, 1, 1, 0, run_read_hit, 0},
    {"read_miss", "read", KV_BUFFERED, 1, 1, 0, run_read_miss, 0},
    {"seek_next10", "read", KV_BUFFERED, 1, 1, 0, run_seek, 0},
    {"scan", "read", KV_BUFFERED, 1, 1, 0, run_scan, 0},
    {"read_while_writing", "buffered", KV_BUFFERED, 2, 1, 0, run_rww, 0},
    {"commit_t1", "sync", KV_SYNC, 1, 1, 0, run_commits, 0},
    {"commit_t1", "buffered", KV_BUFFERED, 1, 1, 0, run_commits, 0},
    {"commit_t16", "sync", KV_SYNC, 16, 1, 0, run_commits, 0},
    {"commit_t16", "buffered", KV_BUFFERED, 16, 1, 0, run_commits, 0},
    {"rmw_t4", "sync", KV_SYNC, 4, 1, KV_OPEN_TXN, run_rmw, 0},
    {"rmw_t4", "buffered", KV_BUFFERED, 4, 1, KV_OPEN_TXN, run_rmw, 0},
    /* overwrite: every key once more, in random order; compacted before its size. */
    {"overwrite", "none", KV_NONE, 1, 1, 0, run_fill_random, 1},
    {"fill_random", "none", KV_NONE, 1, 0, 0, run_fill_random, 0},
    {"reopen", "buffered", KV_BUFFERED, 1, 0, 0, NULL, 0},
};
#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

/* ---- processes, directories, output ------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)f;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *dir) {
  if (access(dir, F_OK) == 0) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_dir(const char *dir) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static uint64_t du_total;
static int du_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
  (void)path;
  (void)f;
  if (flag == FTW_F) du_total += (uint64_t)st->st_blocks * 512;
  return 0;
}

/* Bytes the directory's files take on disk (allocated blocks, as du counts them). */
static uint64_t disk_usage(const char *dir) {
  du_total = 0;
  nftw(dir, du_entry, 16, FTW_PHYS);
  return du_total;
}

/* Reads len bytes from fd unless the deadline (CLOCK_MONOTONIC ns) passes first.
 * Returns the bytes read; sets *timed_out when the deadline ended the wait. */
static size_t read_until(int fd, void *buf, size_t len, uint64_t deadline, int *timed_out) {
  size_t got = 0;
  *timed_out = 0;
  while (got < len) {
    uint64_t now = now_ns();
    if (now >= deadline) {
      *timed_out = 1;
      break;
    }
    struct pollfd p = {fd, POLLIN, 0};
    uint64_t left_ms = (deadline - now) / 1000000 + 1;
    int rc = poll(&p, 1, left_ms > 60000 ? 60000 : (int)left_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) break;
    if (rc == 0) continue;
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  return got;
}

static uint64_t run_deadline(void) { return now_ns() + (uint64_t)(cfg.timeout * 1e9); }

/* Engine x workload pairs whose run hung: later repetitions skip them (and fail), so a
 * hang costs one time limit, not one per repetition. */
static unsigned char hung[N_DRIVERS + 1][N_WORKLOADS];
static unsigned char *hung_flag(const kv_driver *drv, const workload *w) {
  size_t e = 0;
  while (e < N_DRIVERS && all_drivers[e] != drv) e++;
  return &hung[e][w - workloads];
}

/* Forks a child that runs fn and sends its result back; fills r and the child's peak
 * resident memory. A child that dies without reporting is a failed run. */
static void in_child(void (*fn)(const kv_driver *, const workload *, const char *, result *),
                     const kv_driver *drv, const workload *w, const char *dir, result *r,
                     long *maxrss_kb) {
  int fd[2];
  memset(r, 0, sizeof *r);
  *maxrss_kb = 0;
  if (*hung_flag(drv, w)) {
    note(r, "not run: an earlier run of it did not finish within %.0f s", cfg.timeout);
    return;
  }
  if (pipe(fd)) {
    note(r, "pipe: %s", strerror(errno));
    return;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    note(r, "fork: %s", strerror(errno));
    close(fd[0]);
    close(fd[1]);
    return;
  }
  if (pid == 0) {
    close(fd[0]);
    result res;
    memset(&res, 0, sizeof res);
    res.ok = 1;
    fn(drv, w, dir, &res);
    ssize_t n = write(fd[1], &res, sizeof res);
    _exit(n == (ssize_t)sizeof res ? 0 : 1);
  }
  close(fd[1]);
  int timed_out;
  size_t got = read_until(fd[0], r, sizeof *r, run_deadline(), &timed_out);
  close(fd[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  *maxrss_kb = ru.ru_maxrss;
  if (got != sizeof *r) {
    memset(r, 0, sizeof *r);
    if (timed_out) {
      note(r, "the run did not finish within %.0f s (killed)", cfg.timeout);
      *hung_flag(drv, w) = 1;
    } else if (WIFSIGNALED(status))
      note(r, "the run died of signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
      note(r, "the run exited with status %d without a result", WEXITSTATUS(status));
  }
}

/* The body of a normal run's child: open, run the workload, close. */
static void child_workload(const kv_driver *drv, const workload *w, const char *dir,
                           result *r) {
  kv_db *db = drv->open(dir, w->durability, w->open_flags);
  if (!db) {
    note(r, "open failed");
    return;
  }
  w->run(drv, db, w, r);
  if (w->compact_after && drv->compact && drv->compact(db) != KV_OK)
    note(r, "compaction failed");
  if (drv->close(db) != KV_OK) note(r, "close failed");
}

/* The reopen workload's writer: fills a memtable's worth (buffered commits), says so on
 * the pipe, and waits to be killed. */
static int crash_pipe = -1;
static void child_fill_then_wait(const kv_driver *drv, const workload *w, const char *dir,
                                 result *r) {
  (void)w;
  kv_db *db = drv->open(dir, KV_BUFFERED, 0);
  kv_conn *c = db ? drv->conn_open(db) : NULL;
  if (!c) {
    note(r, "open failed");
    return;
  }
  worker wk;
  memset(&wk, 0, sizeof wk);
  wk.drv = drv;
  wk.db = db;
  wk.conn = c;
  load_arg a = {NULL, cfg.reopen_keys, 1, REOPEN_BATCH};
  wk.arg = &a;
  load_body(&wk);
  if (wk.errors || wk.ops != a.n) {
    note(r, "the writer before the crash failed");
    return;
  }
  char ready = 'K';
  if (write(crash_pipe, &ready, 1) != 1) _exit(1);
  for (;;) pause();
}

/* The reopen workload's measurement: open after the crash, read the last key written,
 * then check what the crashed writer wrote. */
static void child_reopen(const kv_driver *drv, const workload *w, const char *dir,
                         result *r) {
  (void)w;
  uint64_t t0 = now_ns();
  kv_db *db = drv->open(dir, KV_BUFFERED, 0);
  kv_conn *c = db ? drv->conn_open(db) : NULL;
  if (!c) {
    note(r, "open after the crash failed");
    return;
  }
  uint8_t key[KLEN], buf[VLEN + 16];
  size_t vl = 0;
  make_key(key, cfg.reopen_keys - 1, 0);
  int rc = drv->get(c, key, KLEN, buf, sizeof buf, &vl);
  uint64_t t1 = now_ns();
  r->ops = 1;
  r->secs = (double)(t1 - t0) / 1e9;
  r->reopen_ms = (double)(t1 - t0) / 1e6;
  r->p50_us = r->p99_us = -1;
  if (rc != KV_OK) note(r, "the last key written before the crash is missing");
  worker wk;
  memset(&wk, 0, sizeof wk);
  wk.drv = drv;
  wk.conn = c;
  load_arg a = {NULL, cfg.reopen_keys, 1, REOPEN_BATCH};
  wk.arg = &a;
  wk.ops = a.n;
  load_check(&wk);
  if (wk.why[0]) note(r, "after the crash: %s", wk.why);
  drv->conn_close(c);
  if (drv->close(db) != KV_OK) note(r, "close failed");
}

static void run_reopen(const kv_driver *drv, const workload *w, const char *dir, result *r,
                       long *maxrss_kb) {
  int fd[2];
  memset(r, 0, sizeof *r);
  if (*hung_flag(drv, w)) {
    note(r, "not run: an earlier run of it did not finish within %.0f s", cfg.timeout);
    return;
  }
  if (pipe(fd)) {
    note(r, "pipe: %s", strerror(errno));
    return;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    crash_pipe = fd[1];
    result res;
    memset(&res, 0, sizeof res);
    child_fill_then_wait(drv, w, dir, &res);
    fprintf(stderr, "%s: reopen: %s\n", drv->name, res.note);
    _exit(1);
  }
  close(fd[1]);
  char ready = 0;
  int timed_out = 0;
  ssize_t n = pid > 0 ? (ssize_t)read_until(fd[0], &ready, 1, run_deadline(), &timed_out) : -1;
  close(fd[0]);
  if (pid > 0) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  if (n != 1 || ready != 'K') {
    if (timed_out) {
      note(r, "the writer before the crash did not finish within %.0f s", cfg.timeout);
      *hung_flag(drv, w) = 1;
    } else {
      note(r, "the writer before the crash failed");
    }
    return;
  }
  in_child(child_reopen, drv, w, dir, r, maxrss_kb);
}

/* The floor of a durable commit on this file system: write one 116-byte record with
 * pwrite(2) and fdatasync(2) it, in a loop. The records go round a 4 MiB file written
 * and synced beforehand, so that each sync carries data only (no file size or extent
 * change): the cheapest durable commit the device allows. Reported as engine "raw",
 * commit_t1/sync. */
static const char *raw_version(void) { return "write+fdatasync"; }
static const kv_driver raw_floor = {.name = "raw", .version = raw_version};

static void child_raw_floor(const kv_driver *drv, const workload *w, const char *dir,
                            result *r) {
  (void)drv;
  (void)w;
  char path[4200];
  snprintf(path, sizeof path, "%s/raw.log", dir);
  enum { RING = 4 << 20 };
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  static uint8_t zeros[1 << 16];
  for (int off = 0; fd >= 0 && off < RING; off += (int)sizeof zeros)
    if (write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros) {
      close(fd);
      fd = -1;
    }
  if (fd < 0 || fsync(fd) != 0) {
    note(r, "%s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  off_t slots = RING / (KLEN + VLEN);
  hist h;
  memset(&h, 0, sizeof h);
  uint8_t rec[KLEN + VLEN];
  uint64_t nonce = run_nonce() << 16, limit = op_limit(cfg.keys);
  uint64_t start = now_ns();
  uint64_t deadline = cfg.seconds > 0 ? start + (uint64_t)(cfg.seconds * 1e9) : 0, t1 = start;
  for (uint64_t j = 0; j < limit; j++) {
    make_key(rec, j, 0);
    make_value(rec + KLEN, j, 0, nonce + j, 0);
    uint64_t t0 = now_ns();
    off_t at = (off_t)(j % (uint64_t)slots) * (off_t)sizeof rec;
    if (pwrite(fd, rec, sizeof rec, at) != (ssize_t)sizeof rec || fdatasync(fd) != 0) {
      note(r, "%s: %s", path, strerror(errno));
      break;
    }
    t1 = now_ns();
    hist_add(&h, t1 - t0);
    r->ops++;
    if (deadline && t1 >= deadline) break;
  }
  close(fd);
  r->secs = (double)(t1 - start) / 1e9;
  r->p50_us = hist_quantile(&h, 0.50);
  r->p99_us = hist_quantile(&h, 0.99);
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static void json_num(FILE *f, const char *name, double v) {
  if (v < 0)
    fprintf(f, ",\"%s\":null", name);
  else
    fprintf(f, ",\"%s\":%.6g", name, v);
}

static int passed, failed;

static void report(const kv_driver *drv, const workload *w, int rep, const result *r,
                   long maxrss_kb, const char *dir, uint64_t live_entries) {
  uint64_t disk = disk_usage(dir);
  uint64_t live = live_entries * (KLEN + VLEN);
  double rate = r->secs > 0 ? (double)r->ops / r->secs : -1;
  if (r->ok)
    passed++;
  else
    failed++;
  if (cfg.out) {
    FILE *f = cfg.out;
    fprintf(f, "{\"engine\":");
    json_str(f, drv->name);
    fprintf(f, ",\"version\":");
    json_str(f, drv->version());
    fprintf(f, ",\"workload\":");
    json_str(f, w->name);
    fprintf(f, ",\"durability\":");
    json_str(f, w->label);
    fprintf(f, ",\"threads\":%d,\"rep\":%d,\"keys\":%" PRIu64 ",\"ok\":%s,\"ops\":%" PRIu64,
            w->threads, rep, cfg.keys, r->ok ? "true" : "false", r->ops);
    json_num(f, "seconds", r->secs);
    json_num(f, "ops_per_sec", r->ok ? rate : -1);
    json_num(f, "p50_us", r->ok ? r->p50_us : -1);
    json_num(f, "p99_us", r->ok ? r->p99_us : -1);
    json_num(f, "writer_ops_per_sec", r->writer_ops_s > 0 ? r->writer_ops_s : -1);
    fprintf(f, ",\"conflicts\":%" PRIu64, r->conflicts);
    json_num(f, "reopen_ms", r->reopen_ms > 0 ? r->reopen_ms : -1);
    fprintf(f, ",\"disk_bytes\":%" PRIu64 ",\"live_bytes\":%" PRIu64, disk, live);
    json_num(f, "disk_per_live", live ? (double)disk / (double)live : -1);
    fprintf(f, ",\"peak_rss_kb\":%ld,\"note\":", maxrss_kb);
    json_str(f, r->note);
    fprintf(f, "}\n");
    fflush(f);
  }
  char lat[64] = "";
  if (r->ok && r->p50_us >= 0)
    snprintf(lat, sizeof lat, "p50 %.1fus p99 %.1fus", r->p50_us, r->p99_us);
  if (r->reopen_ms > 0) snprintf(lat, sizeof lat, "reopen %.0fms", r->reopen_ms);
  fprintf(stderr, "%-8s %-19s %-8s rep %d  %12.0f ops/s  %-28s disk/live %.2f  rss %ld MiB  %s%s\n",
          drv->name, w->name, w->label, rep, r->ok ? rate : 0, lat,
          live ? (double)disk / (double)live : 0, maxrss_kb / 1024,
          r->ok ? "ok" : "FAILED: ", r->note);
}

/* ---- command line -------------------------------------------------------------------- */

static int in_list(const char *list, const char *name, const char *label) {
  if (!list) return 1;
  size_t nl = strlen(name);
  const char *p = list;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == nl && strncmp(p, name, nl) == 0) return 1;
    if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '/' &&
        len - nl - 1 == strlen(label) && strncmp(p + nl + 1, label, len - nl - 1) == 0)
      return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: kvbench [options]\n"
          "  --engines LIST     comma-separated engines (default: all built in:");
  for (size_t i = 0; i < N_DRIVERS; i++) fprintf(f, " %s", all_drivers[i]->name);
  fprintf(f,
          "; raw: write+fdatasync\n"
          "                     of one record per commit, the floor of commit_t1/sync)\n"
          "  --workloads LIST   comma-separated workloads, NAME or NAME/DURABILITY (default: all)\n"
          "  --keys N           live keys (default 1000000)\n"
          "  --reps R           repetitions of every run (default 1)\n"
          "  --seconds S        time limit of each timed read, commit or transaction phase;\n"
          "                     0 for none (default 2)\n"
          "  --ops N            operation limit of those phases (default: keys)\n"
          "  --reopen-keys N    entries written before the crash in reopen (default 500000)\n"
          "  --dir DIR          where databases are made (default bench/out/data)\n"
          "  --out FILE         append one JSON line per run to FILE\n"
          "  --timeout S        kill a run that takes longer and count it failed; later\n"
          "                     repetitions skip it (default 300)\n"
          "workloads:");
  for (size_t i = 0; i < N_WORKLOADS; i++)
    fprintf(f, " %s/%s", workloads[i].name, workloads[i].label);
  fprintf(f, "\n");
}

int main(int argc, char **argv) {
  const char *engines = NULL, *wl = NULL, *out = NULL;
  static const struct option opts[] = {
      {"engines", required_argument, 0, 'e'}, {"workloads", required_argument, 0, 'w'},
      {"keys", required_argument, 0, 'k'},    {"reps", required_argument, 0, 'r'},
      {"seconds", required_argument, 0, 's'}, {"ops", required_argument, 0, 'o'},
      {"reopen-keys", required_argument, 0, 'R'}, {"dir", required_argument, 0, 'd'},
      {"out", required_argument, 0, 'O'},     {"timeout", required_argument, 0, 'T'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (ch) {
      case 'e': engines = optarg; break;
      case 'w': wl = optarg; break;
      case 'k': cfg.keys = strtoull(optarg, NULL, 10); break;
      case 'r': cfg.reps = atoi(optarg); break;
      case 's': cfg.seconds = atof(optarg); break;
      case 'o': cfg.ops = strtoull(optarg, NULL, 10); break;
      case 'R': cfg.reopen_keys = strtoull(optarg, NULL, 10); break;
      case 'd': cfg.dir = optarg; break;
      case 'O': out = optarg; break;
      case 'T': cfg.timeout = atof(optarg); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc || cfg.keys < 1000 || cfg.keys > UINT32_MAX || cfg.reps < 1 ||
      cfg.reopen_keys < 1 || cfg.seconds < 0 || cfg.timeout <= 0) {
    fprintf(stderr, "kvbench: bad arguments (keys must be 1000..2^32-1, reps >= 1)\n");
    usage(stderr);
    return 2;
  }
  /* Every name given must exist. */
  for (const char *list = engines; list && *list;) {
    const char *e = strchr(list, ',');
    size_t len = e ? (size_t)(e - list) : strlen(list);
    int known = len == 3 && !strncmp(list, "raw", 3);
    for (size_t i = 0; i < N_DRIVERS; i++)
      known |= strlen(all_drivers[i]->name) == len && !strncmp(all_drivers[i]->name, list, len);
    if (!known) {
      fprintf(stderr, "kvbench: unknown or not built engine '%.*s'\n", (int)len, list);
      return 2;
    }
    list = e ? e + 1 : list + len;
  }
  for (const char *list = wl; list && *list;) {
    const char *e = strchr(list, ',');
    size_t len = e ? (size_t)(e - list) : strlen(list);
    char item[128];
    snprintf(item, sizeof item, "%.*s", (int)len, list);
    int known = 0;
    for (size_t i = 0; i < N_WORKLOADS; i++)
      known |= in_list(item, workloads[i].name, workloads[i].label);
    if (!known) {
      fprintf(stderr, "kvbench: unknown workload '%s'\n", item);
      return 2;
    }
    list = e ? e + 1 : list + len;
  }
  if (out && !(cfg.out = fopen(out, "a"))) {
    fprintf(stderr, "kvbench: %s: %s\n", out, strerror(errno));
    return 2;
  }
  if (make_dir(cfg.dir)) {
    fprintf(stderr, "kvbench: %s: %s\n", cfg.dir, strerror(errno));
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  int need_main = 0;
  for (size_t i = 0; i < N_WORKLOADS; i++)
    if (workloads[i].on_main && in_list(wl, workloads[i].name, workloads[i].label))
      need_main = 1;

  /* Workload by workload, every engine in turn, so that the figures a ratio compares
   * are taken within moments of each other; each engine keeps its own main database. */
  int have_main[N_DRIVERS];
  for (int rep = 1; rep <= cfg.reps; rep++) {
    for (size_t e = 0; e < N_DRIVERS; e++) {
      char base[4200];
      snprintf(base, sizeof base, "%s/%s", cfg.dir, all_drivers[e]->name);
      remove_tree(base);
      have_main[e] = 0;
    }
    for (size_t i = 0; i < N_WORKLOADS; i++) {
      const workload *w = &workloads[i];
      int wanted = in_list(wl, w->name, w->label);
      if (i == 0 ? !wanted && !need_main : !wanted) continue;
      /* Next to the engines' durable single commits: the file system's own floor. */
      if (w->run == run_commits && w->threads == 1 && w->durability == KV_SYNC &&
          in_list(engines, raw_floor.name, "")) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/raw", cfg.dir);
        remove_tree(dir);
        make_dir(dir);
        result r;
        long rss = 0;
        in_child(child_raw_floor, &raw_floor, w, dir, &r, &rss);
        report(&raw_floor, w, rep, &r, rss, dir, 0);
        remove_tree(dir);
      }
      for (size_t e = 0; e < N_DRIVERS; e++) {
        const kv_driver *drv = all_drivers[e];
        if (!in_list(engines, drv->name, "")) continue;
        char main_dir[4200], fresh[4200];
        snprintf(main_dir, sizeof main_dir, "%s/%s/main", cfg.dir, drv->name);
        snprintf(fresh, sizeof fresh, "%s/%s/fresh", cfg.dir, drv->name);
        result r;
        long rss = 0;
        if (i == 0) { /* fill_seq makes the main database the next workloads use */
          remove_tree(main_dir);
          make_dir(main_dir);
          in_child(child_workload, drv, w, main_dir, &r, &rss);
          have_main[e] = r.ok;
          if (wanted)
            report(drv, w, rep, &r, rss, main_dir, cfg.keys);
          else if (!r.ok)
            fprintf(stderr, "%s: loading the main database failed: %s\n", drv->name, r.note);
        } else if (w->on_main) {
          if (have_main[e]) {
            in_child(child_workload, drv, w, main_dir, &r, &rss);
          } else {
            memset(&r, 0, sizeof r);
            note(&r, "no data: loading the main database failed");
          }
          report(drv, w, rep, &r, rss, main_dir, cfg.keys);
        } else {
          remove_tree(fresh);
          make_dir(fresh);
          if (w->run) {
            in_child(child_workload, drv, w, fresh, &r, &rss);
            report(drv, w, rep, &r, rss, fresh, cfg.keys);
          } else {
            run_reopen(drv, w, fresh, &r, &rss);
            report(drv, w, rep, &r, rss, fresh, cfg.reopen_keys);
          }
          remove_tree(fresh);
        }
      }
    }
    for (size_t e = 0; e < N_DRIVERS; e++) {
      char base[4200];
      snprintf(base, sizeof base, "%s/%s", cfg.dir, all_drivers[e]->name);
      remove_tree(base);
    }
  }
  if (cfg.out) fclose(cfg.out);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
