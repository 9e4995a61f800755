/* The C API test suite. Runs the same assertions in either mode:
 *
 *   test_api inproc DIR      every test opens databases under DIR (in-process)
 *   test_api socket PATH     every test connects to the `sochdb serve` at PATH
 *
 * In socket mode all tests share the server's database, so each test works under its
 * own key prefix and table names. Prints "N passed, M failed"; exits non-zero on any
 * failure. SOCHDB_TEST_SCALE (default 1) multiplies the loop counts.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define B(s) ((const uint8_t *)(s)), strlen(s)

static int socket_mode;
static const char *target; /* directory (inproc) or socket path (socket) */
static int scale = 1;

/* A fresh database handle for test `name`: its own directory in-process, a new
 * connection in socket mode. */
static sochdb_db *db_for(const char *name) {
    sochdb_db *db = NULL;
    sochdb_error *err = NULL;
    sochdb_status st;
    if (socket_mode) {
        st = sochdb_connect(target, NULL, &db, &err);
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", target, name);
        st = sochdb_open(path, NULL, &db, &err);
    }
    if (st != SOCHDB_OK) {
        fprintf(stderr, "cannot open a database for %s: %s\n", name, sochdb_error_message(err));
        sochdb_error_free(err);
        exit(2);
    }
    return db;
}

/* Reads key `k`; returns the status and copies the value into `out` (NUL-terminated). */
static sochdb_status get_str(sochdb_db *db, sochdb_txn *txn, const char *k, char *out,
                             size_t cap) {
    sochdb_buf v = {0};
    sochdb_status st = sochdb_get(db, txn, B(k), &v, NULL);
    out[0] = 0;
    if (st == SOCHDB_OK) {
        size_t n = v.len < cap - 1 ? v.len : cap - 1;
        if (n) memcpy(out, v.data, n);
        out[n] = 0;
    }
    sochdb_buf_free(&v);
    return st;
}

static int str_eq_buf(const sochdb_buf *b, const char *s) {
    return b->len == strlen(s) && (b->len == 0 || memcmp(b->data, s, b->len) == 0);
}

static sochdb_value v_int(int64_t i) {
    sochdb_value v = {0};
    v.kind = SOCHDB_TYPE_INT64;
    v.int64 = i;
    return v;
}

static sochdb_value v_text(const char *s) {
    sochdb_value v = {0};
    v.kind = SOCHDB_TYPE_TEXT;
    v.data = (const uint8_t *)s;
    v.len = strlen(s);
    return v;
}

static sochdb_value v_float(double f) {
    sochdb_value v = {0};
    v.kind = SOCHDB_TYPE_FLOAT64;
    v.float64 = f;
    return v;
}

static sochdb_value v_bool(int b) {
    sochdb_value v = {0};
    v.kind = SOCHDB_TYPE_BOOL;
    v.boolean = (uint32_t)b;
    return v;
}

static sochdb_value v_null(void) {
    sochdb_value v = {0};
    v.kind = SOCHDB_TYPE_NULL;
    return v;
}

/* ---------------------------------------------------------------- basics */

static void test_version_and_status(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", SOCHDB_VERSION_MAJOR, SOCHDB_VERSION_MINOR,
             SOCHDB_VERSION_PATCH);
    CHECK(strcmp(sochdb_version(), want) == 0);
    CHECK(strcmp(sochdb_status_str(SOCHDB_OK), "OK") == 0);
    CHECK(strcmp(sochdb_status_str(SOCHDB_NOT_FOUND), "NOT_FOUND") == 0);
    CHECK(strcmp(sochdb_status_str(SOCHDB_CONFLICT), "CONFLICT") == 0);
    CHECK(strcmp(sochdb_status_str(SOCHDB_ALREADY_EXISTS), "ALREADY_EXISTS") == 0);
    CHECK(strcmp(sochdb_status_str(-1), "UNKNOWN") == 0);
    CHECK(strcmp(sochdb_status_str(15), "UNKNOWN") == 0);
    for (int a = 0; a <= SOCHDB_ALREADY_EXISTS; a++)
        for (int b = a + 1; b <= SOCHDB_ALREADY_EXISTS; b++)
            CHECK(strcmp(sochdb_status_str(a), sochdb_status_str(b)) != 0);
}

static void test_error_objects(void) {
    sochdb_db *db = db_for("errors");
    sochdb_error *err = (sochdb_error *)(uintptr_t)0x10; /* cleared on entry */
    CHECK_ST(sochdb_put(db, NULL, B("errors/k"), B("v"), &err), SOCHDB_OK);
    CHECK(err == NULL);

    CHECK_ST(sochdb_put(db, NULL, NULL, 3, NULL, 0, &err), SOCHDB_INVALID_ARGUMENT);
    CHECK(err != NULL);
    CHECK(sochdb_error_status(err) == SOCHDB_INVALID_ARGUMENT);
    CHECK(strstr(sochdb_error_message(err), "sochdb_put") != NULL);
    CHECK(strstr(sochdb_error_message(err), "key") != NULL);
    CHECK(strstr(sochdb_last_error_message(), "sochdb_put") != NULL);
    sochdb_error_free(err);
    sochdb_error_free(err); /* a second free is ignored */
    sochdb_error_free(NULL);
    CHECK(sochdb_error_status(NULL) == SOCHDB_OK);
    CHECK(strcmp(sochdb_error_message(NULL), "") == 0);

    /* Absent keys carry no error object. */
    sochdb_buf v = {0};
    CHECK_ST(sochdb_get(db, NULL, B("errors/absent"), &v, &err), SOCHDB_NOT_FOUND);
    CHECK(err == NULL);
    CHECK(v.data == NULL && v.len == 0);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

static void test_options(void) {
    sochdb_options o;
    memset(&o, 0xff, sizeof o);
    sochdb_options_init(&o);
    sochdb_options_init(NULL);
    CHECK(o.struct_size == sizeof o);
    CHECK(o.durability == SOCHDB_DURABILITY_SYNC);
    CHECK(o.default_isolation == SOCHDB_ISOLATION_SERIALIZABLE);
    CHECK(o.read_only == 0);

    sochdb_db *db = (sochdb_db *)(uintptr_t)0x10;
    char path[4096];
    snprintf(path, sizeof path, "%s/options", target);
    const char *where = socket_mode ? target : path;
    sochdb_status (*opener)(const char *, const sochdb_options *, sochdb_db **, sochdb_error **) =
        socket_mode ? sochdb_connect : sochdb_open;

    sochdb_options bad = o;
    bad.durability = 3;
    CHECK_ST(opener(where, &bad, &db, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK(db == NULL);
    bad = o;
    bad.default_isolation = 9;
    CHECK_ST(opener(where, &bad, &db, NULL), SOCHDB_INVALID_ARGUMENT);
    bad = o;
    bad.read_only = 2;
    CHECK_ST(opener(where, &bad, &db, NULL), SOCHDB_INVALID_ARGUMENT);
    bad = o;
    bad.struct_size = 0;
    CHECK_ST(opener(where, &bad, &db, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(opener(NULL, &o, &db, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(opener(where, &o, NULL, NULL), SOCHDB_INVALID_ARGUMENT);

    /* Every durability opens. */
    const uint32_t durs[] = {SOCHDB_DURABILITY_SYNC, SOCHDB_DURABILITY_BUFFERED,
                             SOCHDB_DURABILITY_NONE};
    for (int i = 0; i < 3; i++) {
        sochdb_options ok = o;
        ok.durability = durs[i];
        ok.default_isolation = SOCHDB_ISOLATION_SNAPSHOT;
        ok.memtable_budget = 1 << 20;
        ok.cache_budget = 1 << 20;
        ok.connect_timeout_ms = 5000;
        ok.request_timeout_ms = 30000;
        CHECK_ST(opener(where, &ok, &db, NULL), SOCHDB_OK);
        CHECK_ST(sochdb_put(db, NULL, B("options/k"), B("v"), NULL), SOCHDB_OK);
        CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
    }

    if (socket_mode) {
        /* No server there. */
        char nowhere[4096];
        snprintf(nowhere, sizeof nowhere, "%s.absent", target);
        CHECK(sochdb_connect(nowhere, NULL, &db, NULL) != SOCHDB_OK);
        CHECK(db == NULL);
    } else {
        /* A second in-process open of the same directory is refused. */
        sochdb_db *first = NULL;
        CHECK_ST(sochdb_open(path, NULL, &first, NULL), SOCHDB_OK);
        sochdb_error *err = NULL;
        CHECK_ST(sochdb_open(path, NULL, &db, &err), SOCHDB_LOCKED);
        CHECK(err && strstr(sochdb_error_message(err), "socket") != NULL);
        sochdb_error_free(err);
        CHECK_ST(sochdb_close(first, NULL), SOCHDB_OK);

        /* Read-only: reads work, writes fail. */
        sochdb_options ro = o;
        ro.read_only = 1;
        CHECK_ST(sochdb_open(path, &ro, &db, NULL), SOCHDB_OK);
        char val[16];
        CHECK_ST(get_str(db, NULL, "options/k", val, sizeof val), SOCHDB_OK);
        CHECK(strcmp(val, "v") == 0);
        CHECK_ST(sochdb_put(db, NULL, B("options/k2"), B("v"), NULL), SOCHDB_READ_ONLY);
        CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
    }
}

/* ---------------------------------------------------------------- key-value */

static void test_kv(void) {
    sochdb_db *db = db_for("kv");
    char val[64];
    CHECK_ST(sochdb_put(db, NULL, B("kv/a"), B("1"), NULL), SOCHDB_OK);
    CHECK_ST(get_str(db, NULL, "kv/a", val, sizeof val), SOCHDB_OK);
    CHECK(strcmp(val, "1") == 0);
    CHECK_ST(sochdb_put(db, NULL, B("kv/a"), B("two"), NULL), SOCHDB_OK);
    CHECK_ST(get_str(db, NULL, "kv/a", val, sizeof val), SOCHDB_OK);
    CHECK(strcmp(val, "two") == 0);

    /* Empty value versus absent key. */
    CHECK_ST(sochdb_put(db, NULL, B("kv/empty"), NULL, 0, NULL), SOCHDB_OK);
    sochdb_buf v = {0};
    CHECK_ST(sochdb_get(db, NULL, B("kv/empty"), &v, NULL), SOCHDB_OK);
    CHECK(v.len == 0);
    sochdb_buf_free(&v);
    CHECK_ST(sochdb_get(db, NULL, B("kv/none"), &v, NULL), SOCHDB_NOT_FOUND);

    /* Binary keys and values with NUL bytes. */
    const uint8_t bk[] = {'k', 'v', '/', 0, 1, 0xff};
    const uint8_t bv[] = {0, 0, 7, 0};
    CHECK_ST(sochdb_put(db, NULL, bk, sizeof bk, bv, sizeof bv, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_get(db, NULL, bk, sizeof bk, &v, NULL), SOCHDB_OK);
    CHECK(v.len == sizeof bv && memcmp(v.data, bv, sizeof bv) == 0);
    sochdb_buf_free(&v);
    sochdb_buf_free(&v); /* freeing twice is harmless */
    sochdb_buf_free(NULL);

    CHECK_ST(sochdb_delete(db, NULL, B("kv/a"), NULL), SOCHDB_OK);
    CHECK_ST(get_str(db, NULL, "kv/a", val, sizeof val), SOCHDB_NOT_FOUND);
    CHECK_ST(sochdb_delete(db, NULL, B("kv/a"), NULL), SOCHDB_OK); /* absent: fine */
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

static void test_kv_bad_input(void) {
    sochdb_db *db = db_for("kvbad");
    sochdb_buf v = {0};
    CHECK_ST(sochdb_put(NULL, NULL, B("k"), B("v"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_get(NULL, NULL, B("k"), &v, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_delete(NULL, NULL, B("k"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_get(db, NULL, B("k"), NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_put(db, NULL, NULL, 1, B("v"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_put(db, NULL, B("k"), NULL, 1, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_get(db, NULL, NULL, 2, &v, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_delete(db, NULL, NULL, 2, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_checkpoint(NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_compact(NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_stats(NULL, &v, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_stats(db, NULL, NULL), SOCHDB_INVALID_ARGUMENT);

    /* A pointer that is no handle is refused without being dereferenced. */
    uint64_t junk[8] = {0};
    CHECK_ST(sochdb_put((sochdb_db *)junk, NULL, B("k"), B("v"), NULL),
             SOCHDB_INVALID_ARGUMENT);

    /* Oversized keys and values. */
    size_t big_key = 65536, big_val = 15 * 1024 * 1024 + 1;
    uint8_t *big = calloc(1, big_val);
    CHECK(big != NULL);
    CHECK_ST(sochdb_put(db, NULL, big, big_key, B("v"), NULL), SOCHDB_TOO_LARGE);
    CHECK_ST(sochdb_get(db, NULL, big, big_key, &v, NULL), SOCHDB_TOO_LARGE);
    CHECK_ST(sochdb_put(db, NULL, B("kvbad/big"), big, big_val, NULL), SOCHDB_TOO_LARGE);
    CHECK_ST(sochdb_put(db, NULL, B("kvbad/k"), (const uint8_t *)"x", SIZE_MAX, NULL),
             SOCHDB_TOO_LARGE);
    /* The largest key and a large value are accepted. */
    memset(big, 'k', 65535);
    CHECK_ST(sochdb_put(db, NULL, big, 65535, B("v"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, NULL, B("kvbad/large"), big, 4 * 1024 * 1024, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_get(db, NULL, B("kvbad/large"), &v, NULL), SOCHDB_OK);
    CHECK(v.len == 4 * 1024 * 1024);
    sochdb_buf_free(&v);
    free(big);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- transactions */

static void test_txn(void) {
    sochdb_db *db = db_for("txn");
    char val[64];
    sochdb_txn *t = NULL;
    uint64_t ts1 = 0, ts2 = 0;

    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t, B("txn/a"), B("1"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t, B("txn/b"), B("2"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_delete(db, t, B("txn/b"), NULL), SOCHDB_OK);
    CHECK_ST(get_str(db, t, "txn/a", val, sizeof val), SOCHDB_OK); /* own write */
    CHECK_ST(get_str(db, t, "txn/b", val, sizeof val), SOCHDB_NOT_FOUND);
    CHECK_ST(get_str(db, NULL, "txn/a", val, sizeof val), SOCHDB_NOT_FOUND); /* isolated */
    CHECK_ST(sochdb_commit(t, &ts1, NULL), SOCHDB_OK);
    CHECK(ts1 > 0);
    CHECK_ST(get_str(db, NULL, "txn/a", val, sizeof val), SOCHDB_OK);

    /* Ended: every call but free reports CLOSED. */
    CHECK_ST(sochdb_put(db, t, B("txn/c"), B("3"), NULL), SOCHDB_CLOSED);
    CHECK_ST(get_str(db, t, "txn/a", val, sizeof val), SOCHDB_CLOSED);
    CHECK_ST(sochdb_commit(t, NULL, NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_abort(t, NULL), SOCHDB_CLOSED);
    sochdb_txn_free(t);
    CHECK_ST(sochdb_abort(t, NULL), SOCHDB_CLOSED); /* freed */
    sochdb_txn_free(t);
    sochdb_txn_free(NULL);

    /* Abort discards. */
    CHECK_ST(sochdb_begin(db, SOCHDB_TXN_SNAPSHOT, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t, B("txn/gone"), B("x"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_abort(t, NULL), SOCHDB_OK);
    sochdb_txn_free(t);
    CHECK_ST(get_str(db, NULL, "txn/gone", val, sizeof val), SOCHDB_NOT_FOUND);

    /* Freeing an open transaction aborts it. */
    CHECK_ST(sochdb_begin(db, SOCHDB_TXN_SERIALIZABLE, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t, B("txn/gone2"), B("x"), NULL), SOCHDB_OK);
    sochdb_txn_free(t);
    CHECK_ST(get_str(db, NULL, "txn/gone2", val, sizeof val), SOCHDB_NOT_FOUND);

    /* Commit timestamps increase. */
    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t, B("txn/a"), B("again"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_commit(t, &ts2, NULL), SOCHDB_OK);
    CHECK(ts2 > ts1);
    sochdb_txn_free(t);

    /* Read-only transactions read and refuse writes. */
    CHECK_ST(sochdb_begin(db, SOCHDB_TXN_READ_ONLY, &t, NULL), SOCHDB_OK);
    CHECK_ST(get_str(db, t, "txn/a", val, sizeof val), SOCHDB_OK);
    CHECK(strcmp(val, "again") == 0);
    CHECK_ST(sochdb_put(db, t, B("txn/ro"), B("x"), NULL), SOCHDB_READ_ONLY);
    CHECK_ST(sochdb_commit(t, NULL, NULL), SOCHDB_OK);
    sochdb_txn_free(t);

    /* Bad flags and arguments. */
    t = (sochdb_txn *)(uintptr_t)0x10;
    CHECK_ST(sochdb_begin(db, 0x40, &t, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK(t == NULL);
    CHECK_ST(sochdb_begin(db, SOCHDB_TXN_SERIALIZABLE | SOCHDB_TXN_SNAPSHOT, &t, NULL),
             SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_begin(db, 0, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_begin(NULL, 0, &t, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_commit(NULL, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_abort(NULL, NULL), SOCHDB_INVALID_ARGUMENT);

    /* A transaction belongs to its database handle. */
    sochdb_db *other = db_for("txn-other");
    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(other, t, B("txn/x"), B("x"), NULL), SOCHDB_INVALID_ARGUMENT);
    /* A transaction handle is not a database handle. */
    CHECK_ST(sochdb_put((sochdb_db *)t, NULL, B("txn/x"), B("x"), NULL),
             SOCHDB_INVALID_ARGUMENT);
    sochdb_txn_free(t);
    CHECK_ST(sochdb_close(other, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* Increments the counter at `key` in a serializable transaction, retrying on conflict
 * with a short growing pause (a commit that is still syncing makes every transaction
 * that read the old value conflict until it is visible); returns the number of
 * attempts, or -1 on another failure. */
static int increment(sochdb_db *db, const char *key) {
    for (int attempt = 1; attempt <= 100000; attempt++) {
        if (attempt > 1) {
            struct timespec pause = {0, 1000L * (attempt < 200 ? attempt : 200)};
            nanosleep(&pause, NULL);
        }
        sochdb_txn *t = NULL;
        if (sochdb_begin(db, 0, &t, NULL) != SOCHDB_OK) return -1;
        char val[32];
        long n = 0;
        sochdb_status st = get_str(db, t, key, val, sizeof val);
        if (st == SOCHDB_OK) n = strtol(val, NULL, 10);
        else if (st != SOCHDB_NOT_FOUND) {
            sochdb_txn_free(t);
            return -1;
        }
        snprintf(val, sizeof val, "%ld", n + 1);
        st = sochdb_put(db, t, B(key), B(val), NULL);
        if (st == SOCHDB_OK) st = sochdb_commit(t, NULL, NULL);
        sochdb_txn_free(t);
        if (st == SOCHDB_OK) return attempt;
        if (st != SOCHDB_CONFLICT) return -1;
    }
    return -1;
}

static void test_conflict(void) {
    sochdb_db *db = db_for("conflict");
    sochdb_txn *t1 = NULL, *t2 = NULL;
    char val[32];
    CHECK_ST(sochdb_put(db, NULL, B("conflict/k"), B("0"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_begin(db, 0, &t1, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_begin(db, 0, &t2, NULL), SOCHDB_OK);
    CHECK_ST(get_str(db, t1, "conflict/k", val, sizeof val), SOCHDB_OK);
    CHECK_ST(get_str(db, t2, "conflict/k", val, sizeof val), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t1, B("conflict/k"), B("1"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t2, B("conflict/k"), B("2"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_commit(t1, NULL, NULL), SOCHDB_OK);
    sochdb_error *err = NULL;
    uint64_t ts = 99;
    CHECK_ST(sochdb_commit(t2, &ts, &err), SOCHDB_CONFLICT);
    CHECK(ts == 0);
    CHECK(err && sochdb_error_status(err) == SOCHDB_CONFLICT);
    sochdb_error_free(err);
    CHECK_ST(sochdb_put(db, t2, B("conflict/k"), B("3"), NULL), SOCHDB_CLOSED);
    sochdb_txn_free(t1);
    sochdb_txn_free(t2);
    CHECK_ST(get_str(db, NULL, "conflict/k", val, sizeof val), SOCHDB_OK);
    CHECK(strcmp(val, "1") == 0);
    CHECK(increment(db, "conflict/k") >= 1);
    CHECK_ST(get_str(db, NULL, "conflict/k", val, sizeof val), SOCHDB_OK);
    CHECK(strcmp(val, "2") == 0);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- batches */

static void test_batch(void) {
    sochdb_db *db = db_for("batch");
    sochdb_batch *b = NULL;
    size_t n = 99;
    uint64_t ts = 0;
    char val[32];
    CHECK_ST(sochdb_put(db, NULL, B("batch/old"), B("x"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_batch_new(&b, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_batch_count(b, &n, NULL), SOCHDB_OK);
    CHECK(n == 0);
    CHECK_ST(sochdb_batch_put(b, B("batch/a"), B("1"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_batch_put(b, B("batch/a"), B("2"), NULL), SOCHDB_OK); /* later wins */
    CHECK_ST(sochdb_batch_put(b, B("batch/e"), NULL, 0, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_batch_delete(b, B("batch/old"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_batch_count(b, &n, NULL), SOCHDB_OK);
    CHECK(n == 4);
    CHECK_ST(sochdb_write_batch(db, b, &ts, NULL), SOCHDB_OK);
    CHECK(ts > 0);
    CHECK_ST(get_str(db, NULL, "batch/a", val, sizeof val), SOCHDB_OK);
    CHECK(strcmp(val, "2") == 0);
    CHECK_ST(get_str(db, NULL, "batch/e", val, sizeof val), SOCHDB_OK);
    CHECK_ST(get_str(db, NULL, "batch/old", val, sizeof val), SOCHDB_NOT_FOUND);

    CHECK_ST(sochdb_batch_clear(b, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_batch_count(b, &n, NULL), SOCHDB_OK);
    CHECK(n == 0);
    uint8_t *big = calloc(1, 65536);
    CHECK_ST(sochdb_batch_put(b, big, 65536, B("v"), NULL), SOCHDB_TOO_LARGE);
    CHECK_ST(sochdb_batch_delete(b, big, 65536, NULL), SOCHDB_TOO_LARGE);
    free(big);
    CHECK_ST(sochdb_batch_put(b, NULL, 1, B("v"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_batch_put(NULL, B("k"), B("v"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_batch_count(b, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_batch_new(NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_write_batch(NULL, b, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_write_batch(db, NULL, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    sochdb_batch_free(b);
    CHECK_ST(sochdb_batch_put(b, B("k"), B("v"), NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_write_batch(db, b, NULL, NULL), SOCHDB_CLOSED);
    sochdb_batch_free(b);
    sochdb_batch_free(NULL);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- iterators */

/* Drains an iterator into "k=v;" text; returns the final status. */
static sochdb_status drain(sochdb_iter *it, char *out, size_t cap) {
    sochdb_slice k, v;
    sochdb_status st;
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < 100000; i++) {
        st = sochdb_iter_next(it, &k, &v, NULL);
        if (st != SOCHDB_OK) break;
        int n = snprintf(out + used, cap - used, "%.*s=%.*s;", (int)k.len, (const char *)k.data,
                         (int)v.len, (const char *)v.data);
        if (n > 0 && (size_t)n < cap - used) used += (size_t)n;
    }
    return st;
}

static void test_iter(void) {
    sochdb_db *db = db_for("iter");
    const char *keys[] = {"iter/a1", "iter/a2", "iter/a3", "iter/b1", "iter/b2"};
    for (int i = 0; i < 5; i++) CHECK_ST(sochdb_put(db, NULL, B(keys[i]), B("v"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, NULL, B("iter/e"), NULL, 0, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, NULL, B("itex"), B("outside"), NULL), SOCHDB_OK);
    sochdb_iter *it = NULL;
    char got[1024];

    CHECK_ST(sochdb_scan_prefix(db, NULL, B("iter/a"), 0, 0, &it, NULL), SOCHDB_OK);
    CHECK_ST(drain(it, got, sizeof got), SOCHDB_NOT_FOUND);
    CHECK(strcmp(got, "iter/a1=v;iter/a2=v;iter/a3=v;") == 0);
    CHECK_ST(sochdb_iter_next(it, NULL, NULL, NULL), SOCHDB_NOT_FOUND); /* stays done */
    sochdb_iter_free(it);

    CHECK_ST(sochdb_scan_prefix(db, NULL, B("iter/"), SOCHDB_SCAN_REVERSE, 2, &it, NULL),
             SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "iter/e=;iter/b2=v;") == 0);
    sochdb_iter_free(it);

    CHECK_ST(sochdb_scan_range(db, NULL, B("iter/a2"), B("iter/b2"), 0, 0, &it, NULL),
             SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "iter/a2=v;iter/a3=v;iter/b1=v;") == 0);
    sochdb_iter_free(it);

    /* An empty end is unbounded (the limit keeps other tests' keys out in socket mode). */
    CHECK_ST(sochdb_scan_range(db, NULL, B("iter/b2"), NULL, 0, 0, 3, &it, NULL), SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "iter/b2=v;iter/e=;itex=outside;") == 0);
    sochdb_iter_free(it);

    CHECK_ST(sochdb_scan_range(db, NULL, B("iter/a"), B("iter/b"), SOCHDB_SCAN_REVERSE, 0, &it,
                               NULL),
             SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "iter/a3=v;iter/a2=v;iter/a1=v;") == 0);
    sochdb_iter_free(it);

    /* Inside a transaction: its own writes, and it ends with the transaction. */
    sochdb_txn *t = NULL;
    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t, B("iter/a0"), B("t"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_delete(db, t, B("iter/a3"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_scan_prefix(db, t, B("iter/a"), 0, 0, &it, NULL), SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "iter/a0=t;iter/a1=v;iter/a2=v;") == 0);
    sochdb_iter_free(it);
    CHECK_ST(sochdb_scan_prefix(db, t, B("iter/a"), 0, 0, &it, NULL), SOCHDB_OK);
    sochdb_slice k;
    CHECK_ST(sochdb_iter_next(it, &k, NULL, NULL), SOCHDB_OK);
    CHECK(k.len == 7 && memcmp(k.data, "iter/a0", 7) == 0);
    CHECK_ST(sochdb_commit(t, NULL, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_iter_next(it, &k, NULL, NULL), SOCHDB_CLOSED);
    sochdb_iter_free(it);
    sochdb_txn_free(t);

    /* Bad arguments. */
    it = (sochdb_iter *)(uintptr_t)0x10;
    CHECK_ST(sochdb_scan_prefix(db, NULL, B("iter/"), 0x8, 0, &it, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK(it == NULL);
    CHECK_ST(sochdb_scan_prefix(db, NULL, NULL, 3, 0, 0, &it, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_scan_prefix(db, NULL, B("iter/"), 0, 0, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_scan_range(NULL, NULL, NULL, 0, NULL, 0, 0, 0, &it, NULL),
             SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_iter_next(NULL, NULL, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    sochdb_iter_free(NULL);

    /* A freed iterator is CLOSED. */
    CHECK_ST(sochdb_scan_prefix(db, NULL, B("iter/"), 0, 0, &it, NULL), SOCHDB_OK);
    sochdb_iter_free(it);
    CHECK_ST(sochdb_iter_next(it, NULL, NULL, NULL), SOCHDB_CLOSED);
    sochdb_iter_free(it);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- paths */

static void test_paths(void) {
    sochdb_db *db = db_for("paths");
    sochdb_buf v = {0};
    CHECK_ST(sochdb_path_put(db, NULL, "pusers/alice/email", B("a@x"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_put(db, NULL, "pusers/alice/name", B("Alice"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_put(db, NULL, "pusers/bob/email", B("b@x"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_put(db, NULL, "pusers_archive/carol/email", B("c@x"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_get(db, NULL, "pusers/alice/email", &v, NULL), SOCHDB_OK);
    CHECK(str_eq_buf(&v, "a@x"));
    sochdb_buf_free(&v);
    /* A path is stored under the key of its bytes. */
    CHECK_ST(sochdb_get(db, NULL, B("pusers/bob/email"), &v, NULL), SOCHDB_OK);
    CHECK(str_eq_buf(&v, "b@x"));
    sochdb_buf_free(&v);
    CHECK_ST(sochdb_path_get(db, NULL, "pusers/nobody", &v, NULL), SOCHDB_NOT_FOUND);

    /* Scans are segment-aware. */
    sochdb_iter *it = NULL;
    char got[1024];
    CHECK_ST(sochdb_path_scan(db, NULL, "pusers", 0, 0, &it, NULL), SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "pusers/alice/email=a@x;pusers/alice/name=Alice;pusers/bob/email=b@x;") == 0);
    sochdb_iter_free(it);
    CHECK_ST(sochdb_path_scan(db, NULL, "pusers", SOCHDB_SCAN_REVERSE, 1, &it, NULL), SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "pusers/bob/email=b@x;") == 0);
    sochdb_iter_free(it);

    /* In a transaction. */
    sochdb_txn *t = NULL;
    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_delete(db, t, "pusers/alice/name", NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_get(db, t, "pusers/alice/name", &v, NULL), SOCHDB_NOT_FOUND);
    CHECK_ST(sochdb_path_get(db, NULL, "pusers/alice/name", &v, NULL), SOCHDB_OK);
    sochdb_buf_free(&v);
    CHECK_ST(sochdb_path_scan(db, t, "pusers/alice", 0, 0, &it, NULL), SOCHDB_OK);
    drain(it, got, sizeof got);
    CHECK(strcmp(got, "pusers/alice/email=a@x;") == 0);
    sochdb_iter_free(it);
    CHECK_ST(sochdb_commit(t, NULL, NULL), SOCHDB_OK);
    sochdb_txn_free(t);
    CHECK_ST(sochdb_path_get(db, NULL, "pusers/alice/name", &v, NULL), SOCHDB_NOT_FOUND);

    /* Bad paths. */
    sochdb_error *err = NULL;
    CHECK_ST(sochdb_path_put(db, NULL, "a//b", B("x"), &err), SOCHDB_INVALID_ARGUMENT);
    CHECK(err != NULL);
    sochdb_error_free(err);
    CHECK_ST(sochdb_path_put(db, NULL, "", B("x"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_path_put(db, NULL, NULL, B("x"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_path_put(db, NULL, "\xff\xfe", B("x"), NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_path_get(db, NULL, "a/b", NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_path_scan(db, NULL, "pusers", 0x10, 0, &it, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_path_delete(NULL, NULL, "a/b", NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- tables */

static void test_tables(void) {
    sochdb_db *db = db_for("tables");
    sochdb_column cols[] = {
        {"name", SOCHDB_TYPE_TEXT, 0},   {"age", SOCHDB_TYPE_INT64, 1},
        {"score", SOCHDB_TYPE_FLOAT64, 1}, {"active", SOCHDB_TYPE_BOOL, 1},
        {"visits", SOCHDB_TYPE_UINT64, 1}, {"avatar", SOCHDB_TYPE_BINARY, 1},
    };
    CHECK_ST(sochdb_table_create(db, "t_people", cols, 6, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_table_create(db, "t_people", cols, 6, NULL), SOCHDB_ALREADY_EXISTS);

    sochdb_buf j = {0};
    CHECK_ST(sochdb_table_list(db, &j, NULL), SOCHDB_OK);
    CHECK(j.data && strstr((const char *)j.data, "\"t_people\"") != NULL);
    sochdb_buf_free(&j);
    CHECK_ST(sochdb_table_describe(db, "t_people", &j, NULL), SOCHDB_OK);
    CHECK(j.data && strstr((const char *)j.data,
                           "{\"name\":\"age\",\"nullable\":true,\"type\":\"Int64\"}") != NULL);
    CHECK(strstr((const char *)j.data, "\"name\":\"t_people\"") != NULL);
    sochdb_buf_free(&j);
    CHECK_ST(sochdb_table_describe(db, "t_nope", &j, NULL), SOCHDB_NOT_FOUND);

    /* Insert with an assigned and a given id. */
    const uint8_t pic[] = {0, 1, 2};
    sochdb_value avatar = {0};
    avatar.kind = SOCHDB_TYPE_BINARY;
    avatar.data = pic;
    avatar.len = sizeof pic;
    sochdb_value visits = {0};
    visits.kind = SOCHDB_TYPE_UINT64;
    visits.uint64 = UINT64_MAX;
    sochdb_field ann[] = {{"name", v_text("Ann")}, {"age", v_int(-4)}, {"score", v_float(9.5)},
                          {"active", v_bool(1)},   {"visits", visits}, {"avatar", avatar}};
    uint64_t id = 0;
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, ann, 6, &id, NULL), SOCHDB_OK);
    CHECK(id > 0);
    uint64_t given = 1000;
    sochdb_field bob[] = {{"name", v_text("Bob")}};
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", &given, bob, 1, &id, NULL), SOCHDB_OK);
    CHECK(id == 1000);
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", &given, bob, 1, NULL, NULL),
             SOCHDB_ALREADY_EXISTS);

    sochdb_row row = {0};
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 1000, &row, NULL), SOCHDB_OK);
    CHECK(row.count == 6);
    if (row.count == 6) {
        CHECK(row.values[0].kind == SOCHDB_TYPE_TEXT && strcmp((const char *)row.values[0].data, "Bob") == 0);
        CHECK(row.values[1].kind == SOCHDB_TYPE_NULL);
    }
    sochdb_row_free(&row);
    sochdb_row_free(&row);
    sochdb_row_free(NULL);
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 1, &row, NULL), SOCHDB_OK);
    if (row.count == 6) {
        CHECK(row.values[1].int64 == -4);
        CHECK(row.values[2].float64 == 9.5);
        CHECK(row.values[3].boolean == 1);
        CHECK(row.values[4].uint64 == UINT64_MAX);
        CHECK(row.values[5].len == 3 && memcmp(row.values[5].data, pic, 3) == 0);
    }
    sochdb_row_free(&row);

    /* Update changes named columns; upsert replaces. */
    sochdb_field older[] = {{"age", v_int(5)}};
    CHECK_ST(sochdb_row_update(db, NULL, "t_people", 1000, older, 1, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 1000, &row, NULL), SOCHDB_OK);
    CHECK(row.count == 6 && row.values[1].int64 == 5 && row.values[0].len == 3);
    sochdb_row_free(&row);
    CHECK_ST(sochdb_row_update(db, NULL, "t_people", 4242, older, 1, NULL), SOCHDB_NOT_FOUND);
    sochdb_field carl[] = {{"name", v_text("Carl")}};
    CHECK_ST(sochdb_row_upsert(db, NULL, "t_people", &given, carl, 1, &id, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 1000, &row, NULL), SOCHDB_OK);
    CHECK(row.count == 6 && row.values[1].kind == SOCHDB_TYPE_NULL);
    sochdb_row_free(&row);

    /* Rows in a transaction. */
    sochdb_txn *t = NULL;
    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    uint64_t tid = 2000;
    CHECK_ST(sochdb_row_insert(db, t, "t_people", &tid, carl, 1, NULL, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_row_get(db, t, "t_people", 2000, &row, NULL), SOCHDB_OK);
    sochdb_row_free(&row);
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 2000, &row, NULL), SOCHDB_NOT_FOUND);
    CHECK_ST(sochdb_abort(t, NULL), SOCHDB_OK);
    sochdb_txn_free(t);
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 2000, &row, NULL), SOCHDB_NOT_FOUND);

    /* Typed errors name the column. */
    sochdb_error *err = NULL;
    sochdb_field wrong[] = {{"name", v_int(1)}};
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, wrong, 1, NULL, &err),
             SOCHDB_INVALID_ARGUMENT);
    CHECK(err && strstr(sochdb_error_message(err), "name") != NULL);
    sochdb_error_free(err);
    sochdb_field nul[] = {{"name", v_null()}};
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, nul, 1, NULL, NULL),
             SOCHDB_INVALID_ARGUMENT);
    sochdb_field unknown[] = {{"name", v_text("x")}, {"height", v_int(1)}};
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, unknown, 2, NULL, &err),
             SOCHDB_INVALID_ARGUMENT);
    CHECK(err && strstr(sochdb_error_message(err), "height") != NULL);
    sochdb_error_free(err);
    sochdb_value badkind = v_int(0);
    badkind.kind = 42;
    sochdb_field bk[] = {{"name", badkind}};
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, bk, 1, NULL, NULL),
             SOCHDB_INVALID_ARGUMENT);
    sochdb_value badbool = v_bool(0);
    badbool.boolean = 7;
    sochdb_field bb[] = {{"name", v_text("x")}, {"active", badbool}};
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, bb, 2, NULL, NULL),
             SOCHDB_INVALID_ARGUMENT);
    sochdb_field badutf[] = {{"name", v_text("\xc3")}};
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, badutf, 1, NULL, NULL),
             SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_row_insert(db, NULL, "t_people", NULL, NULL, 2, NULL, NULL),
             SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_row_insert(db, NULL, "t_nope", NULL, carl, 1, NULL, NULL), SOCHDB_NOT_FOUND);
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 1, NULL, NULL), SOCHDB_INVALID_ARGUMENT);

    sochdb_column badcols[] = {{"a", 9, 0}};
    CHECK_ST(sochdb_table_create(db, "t_bad", badcols, 1, NULL), SOCHDB_INVALID_ARGUMENT);
    sochdb_column badnull[] = {{"a", SOCHDB_TYPE_INT64, 3}};
    CHECK_ST(sochdb_table_create(db, "t_bad", badnull, 1, NULL), SOCHDB_INVALID_ARGUMENT);
    sochdb_column nullname[] = {{NULL, SOCHDB_TYPE_INT64, 0}};
    CHECK_ST(sochdb_table_create(db, "t_bad", nullname, 1, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_table_create(db, NULL, cols, 1, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_table_create(db, "t_bad", NULL, 1, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_table_list(db, NULL, NULL), SOCHDB_INVALID_ARGUMENT);

    bool existed = false;
    CHECK_ST(sochdb_row_delete(db, NULL, "t_people", 1, &existed, NULL), SOCHDB_OK);
    CHECK(existed);
    CHECK_ST(sochdb_row_delete(db, NULL, "t_people", 1, &existed, NULL), SOCHDB_OK);
    CHECK(!existed);
    CHECK_ST(sochdb_table_drop(db, "t_people", NULL), SOCHDB_OK);
    CHECK_ST(sochdb_table_drop(db, "t_people", NULL), SOCHDB_NOT_FOUND);
    CHECK_ST(sochdb_row_get(db, NULL, "t_people", 1000, &row, NULL), SOCHDB_NOT_FOUND);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- queries */

static void test_query(void) {
    sochdb_db *db = db_for("query");
    sochdb_column cols[] = {{"name", SOCHDB_TYPE_TEXT, 0},
                            {"score", SOCHDB_TYPE_FLOAT64, 1},
                            {"active", SOCHDB_TYPE_BOOL, 0}};
    CHECK_ST(sochdb_table_create(db, "q_users", cols, 3, NULL), SOCHDB_OK);
    const char *names[] = {"Alice", "Bob, Jr.", "Carol"};
    for (int i = 0; i < 3; i++) {
        sochdb_field f[] = {{"name", v_text(names[i])},
                            {"score", i == 2 ? v_null() : v_float(i == 0 ? 95.5 : 87)},
                            {"active", v_bool(i != 1)}};
        uint64_t id = (uint64_t)(i + 1);
        CHECK_ST(sochdb_row_insert(db, NULL, "q_users", &id, f, 3, NULL, NULL), SOCHDB_OK);
    }

    sochdb_query_request q = {0};
    q.source = "q_users";
    sochdb_result r = {0};
    CHECK_ST(sochdb_query(db, NULL, &q, &r, NULL), SOCHDB_OK);
    CHECK(r.row_count == 3 && r.column_count == 3);
    CHECK(r.name && strcmp(r.name, "q_users") == 0);
    if (r.column_count == 3) CHECK(strcmp(r.columns[1], "score") == 0);
    if (r.row_count == 3) {
        CHECK(strcmp((const char *)r.values[3].data, "Bob, Jr.") == 0);
        CHECK(r.values[8].kind == SOCHDB_TYPE_BOOL && r.values[8].boolean == 1);
        CHECK(r.values[7].kind == SOCHDB_TYPE_NULL);
    }
    sochdb_buf text = {0};
    CHECK_ST(sochdb_result_toon(&r, &text, NULL), SOCHDB_OK);
    CHECK(text.data && strcmp((const char *)text.data,
                              "q_users[3]{name,score,active}:\n"
                              "  Alice,95.5,true\n"
                              "  \"Bob, Jr.\",87,false\n"
                              "  Carol,null,true") == 0);
    sochdb_buf_free(&text);
    CHECK_ST(sochdb_result_json(&r, &text, NULL), SOCHDB_OK);
    CHECK(text.data && text.data[0] == '[' && strstr((const char *)text.data, "\"Bob, Jr.\"") != NULL);
    sochdb_buf_free(&text);
    sochdb_result_free(&r);
    sochdb_result_free(&r);
    sochdb_result_free(NULL);
    CHECK_ST(sochdb_result_toon(&r, &text, NULL), SOCHDB_INVALID_ARGUMENT);

    /* Columns, a filter, limit and offset. */
    const char *want[] = {"name"};
    sochdb_filter f[] = {{"score", SOCHDB_OP_GE, v_float(80)}};
    q.columns = want;
    q.column_count = 1;
    q.filters = f;
    q.filter_count = 1;
    q.limit = 1;
    q.offset = 1;
    CHECK_ST(sochdb_query(db, NULL, &q, &r, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_result_toon(&r, &text, NULL), SOCHDB_OK);
    CHECK(text.data && strcmp((const char *)text.data, "q_users[1]{name}:\n  \"Bob, Jr.\"") == 0);
    sochdb_buf_free(&text);
    sochdb_result_free(&r);

    /* An empty result. */
    sochdb_filter none[] = {{"name", SOCHDB_OP_EQ, v_text("Zed")}};
    q.filters = none;
    q.limit = 0;
    q.offset = 0;
    CHECK_ST(sochdb_query(db, NULL, &q, &r, NULL), SOCHDB_OK);
    CHECK(r.row_count == 0);
    CHECK_ST(sochdb_result_toon(&r, &text, NULL), SOCHDB_OK);
    CHECK(text.data && strcmp((const char *)text.data, "q_users: []") == 0);
    sochdb_buf_free(&text);
    sochdb_result_free(&r);

    /* Over paths. */
    CHECK_ST(sochdb_path_put(db, NULL, "qdocs/1/title", B("Intro"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_put(db, NULL, "qdocs/1/body", B("Hello"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_path_put(db, NULL, "qdocs/2/title", B("Next"), NULL), SOCHDB_OK);
    sochdb_query_request pq = {0};
    pq.source = "qdocs";
    CHECK_ST(sochdb_query(db, NULL, &pq, &r, NULL), SOCHDB_OK);
    CHECK(r.row_count == 2);
    sochdb_result_free(&r);

    /* Bad requests. */
    sochdb_filter badop[] = {{"score", 17, v_float(1)}};
    q.filters = badop;
    CHECK_ST(sochdb_query(db, NULL, &q, &r, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK(r.owner == NULL);
    q.filters = NULL;
    q.filter_count = 3;
    CHECK_ST(sochdb_query(db, NULL, &q, &r, NULL), SOCHDB_INVALID_ARGUMENT);
    sochdb_query_request nosrc = {0};
    CHECK_ST(sochdb_query(db, NULL, &nosrc, &r, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_query(db, NULL, NULL, &r, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_query(db, NULL, &pq, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    /* A source that is no table is a path: nothing under it, no rows. */
    sochdb_query_request missing = {0};
    missing.source = "q_missing_table";
    CHECK_ST(sochdb_query(db, NULL, &missing, &r, NULL), SOCHDB_OK);
    CHECK(r.row_count == 0);
    sochdb_result_free(&r);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- admin */

static void test_checkpoint_and_stats(void) {
    sochdb_db *db = db_for("admin");
    CHECK_ST(sochdb_put(db, NULL, B("admin/k"), B("v"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_checkpoint(db, NULL), SOCHDB_OK);
    sochdb_buf j = {0};
    CHECK_ST(sochdb_stats(db, &j, NULL), SOCHDB_OK);
    CHECK(j.data && j.data[0] == '{' && j.data[j.len - 1] == '}' && j.data[j.len] == 0);
    sochdb_buf_free(&j);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* The figure `name` of a stats JSON object (an unsigned integer), or -1. */
static long long stat_of(sochdb_db *db, const char *name) {
    sochdb_buf j = {0};
    long long v = -1;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    if (sochdb_stats(db, &j, NULL) == SOCHDB_OK) {
        const char *at = strstr((const char *)j.data, pat);
        if (at) v = strtoll(at + strlen(pat), NULL, 10);
    }
    sochdb_buf_free(&j);
    return v;
}

#define COMPACT_KEYS 500

static void compact_key(int i, char *out, size_t cap) { snprintf(out, cap, "compact/%05d", i); }

static void compact_value(int round, int i, char *out, size_t cap) {
    snprintf(out, cap, "round %d of key %d, padded to a realistic size: %060d", round, i, 0);
}

static void compact_write(sochdb_db *db, int round) {
    sochdb_batch *b = NULL;
    char k[32], v[128];
    CHECK_ST(sochdb_batch_new(&b, NULL), SOCHDB_OK);
    for (int i = 0; i < COMPACT_KEYS; i++) {
        compact_key(i, k, sizeof k);
        compact_value(round, i, v, sizeof v);
        sochdb_batch_put(b, B(k), B(v), NULL);
    }
    CHECK_ST(sochdb_write_batch(db, b, NULL, NULL), SOCHDB_OK);
    sochdb_batch_free(b);
}

static void test_compact(void) {
    sochdb_db *db = db_for("compact");
    char k[32], want[128], got[128];
    /* Round 0, a snapshot of it held throughout, then three rounds of overwrites (each
     * in its own block file) and half of the keys deleted. */
    compact_write(db, 0);
    sochdb_txn *snap = NULL;
    CHECK_ST(sochdb_begin(db, SOCHDB_TXN_READ_ONLY, &snap, NULL), SOCHDB_OK);
    for (int round = 1; round <= 3; round++) {
        compact_write(db, round);
        CHECK_ST(sochdb_checkpoint(db, NULL), SOCHDB_OK);
    }
    sochdb_batch *b = NULL;
    CHECK_ST(sochdb_batch_new(&b, NULL), SOCHDB_OK);
    for (int i = 0; i < COMPACT_KEYS; i += 2) {
        compact_key(i, k, sizeof k);
        sochdb_batch_delete(b, B(k), NULL);
    }
    CHECK_ST(sochdb_write_batch(db, b, NULL, NULL), SOCHDB_OK);
    sochdb_batch_free(b);
    long long read_before = stat_of(db, "compaction_bytes_read");
    CHECK(read_before >= 0);

    CHECK_ST(sochdb_compact(db, NULL), SOCHDB_OK);

    CHECK(stat_of(db, "compaction_bytes_read") > read_before);
    int bad = 0, bad_snap = 0;
    for (int i = 0; i < COMPACT_KEYS; i++) {
        compact_key(i, k, sizeof k);
        sochdb_status st = get_str(db, NULL, k, got, sizeof got);
        compact_value(3, i, want, sizeof want);
        if (i % 2 == 0) {
            if (st != SOCHDB_NOT_FOUND) bad++;
        } else if (st != SOCHDB_OK || strcmp(got, want) != 0) {
            bad++;
        }
        /* The snapshot still reads the versions of its time. */
        compact_value(0, i, want, sizeof want);
        if (get_str(db, snap, k, got, sizeof got) != SOCHDB_OK || strcmp(got, want) != 0)
            bad_snap++;
    }
    CHECK(bad == 0);
    CHECK(bad_snap == 0);
    CHECK_ST(sochdb_abort(snap, NULL), SOCHDB_OK);
    sochdb_txn_free(snap);
    CHECK_ST(sochdb_compact(db, NULL), SOCHDB_OK); /* nothing left to drop */
    CHECK_ST(sochdb_compact(NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_compact(db, NULL), SOCHDB_CLOSED);

    if (!socket_mode) {
        /* A read-only database cannot be compacted, and says why. */
        char path[4096];
        snprintf(path, sizeof path, "%s/compact", target);
        sochdb_options ro;
        sochdb_options_init(&ro);
        ro.read_only = 1;
        CHECK_ST(sochdb_open(path, &ro, &db, NULL), SOCHDB_OK);
        sochdb_error *err = NULL;
        CHECK_ST(sochdb_compact(db, &err), SOCHDB_READ_ONLY);
        CHECK(err && sochdb_error_status(err) == SOCHDB_READ_ONLY);
        CHECK(err && strstr(sochdb_error_message(err), "read-only") != NULL);
        sochdb_error_free(err);
        compact_key(1, k, sizeof k);
        compact_value(3, 1, want, sizeof want);
        CHECK_ST(get_str(db, NULL, k, got, sizeof got), SOCHDB_OK);
        CHECK(strcmp(got, want) == 0);
        CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
    }
}

static void test_closed_handles(void) {
    sochdb_db *db = db_for("closed");
    sochdb_txn *t = NULL;
    sochdb_iter *it = NULL;
    sochdb_batch *b = NULL;
    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_scan_prefix(db, NULL, B("closed/"), 0, 0, &it, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_batch_new(&b, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);

    sochdb_buf v = {0};
    sochdb_txn *t2 = NULL;
    CHECK_ST(sochdb_put(db, NULL, B("closed/k"), B("v"), NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_get(db, NULL, B("closed/k"), &v, NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_checkpoint(db, NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_begin(db, 0, &t2, NULL), SOCHDB_CLOSED);
    CHECK(t2 == NULL);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_CLOSED);
    /* Handles made from it fail cleanly and can still be freed. */
    CHECK_ST(sochdb_put(db, t, B("closed/k"), B("v"), NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_commit(t, NULL, NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_iter_next(it, NULL, NULL, NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_batch_put(b, B("closed/k"), B("v"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_write_batch(db, b, NULL, NULL), SOCHDB_CLOSED);
    sochdb_txn_free(t);
    sochdb_iter_free(it);
    sochdb_batch_free(b);
    CHECK_ST(sochdb_close(NULL, NULL), SOCHDB_OK);
}

static void test_txn_outlives_db(void) {
    sochdb_db *db = db_for("outlive");
    sochdb_txn *t = NULL;
    CHECK_ST(sochdb_begin(db, 0, &t, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(db, t, B("outlive/k"), B("v"), NULL), SOCHDB_OK);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_commit(t, NULL, NULL), SOCHDB_CLOSED);
    sochdb_txn_free(t);
}

/* ---------------------------------------------------------------- server */

static void test_server(void) {
    sochdb_db *db = db_for("server");
    char sock[4096];
    if (socket_mode)
        snprintf(sock, sizeof sock, "%s.hosted", target);
    else
        snprintf(sock, sizeof sock, "%s/hosted.sock", target);
    sochdb_server_options so;
    memset(&so, 0xff, sizeof so);
    sochdb_server_options_init(&so);
    sochdb_server_options_init(NULL);
    CHECK(so.struct_size == sizeof so);
    sochdb_server *srv = NULL;
    CHECK_ST(sochdb_server_start(db, sock, &so, &srv, NULL), SOCHDB_OK);

    sochdb_db *remote = NULL;
    CHECK_ST(sochdb_connect(sock, NULL, &remote, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_put(remote, NULL, B("server/k"), B("via socket"), NULL), SOCHDB_OK);
    char val[32];
    CHECK_ST(get_str(db, NULL, "server/k", val, sizeof val), SOCHDB_OK);
    CHECK(strcmp(val, "via socket") == 0);
    CHECK_ST(sochdb_close(remote, NULL), SOCHDB_OK);

    sochdb_server *srv2 = NULL;
    CHECK(sochdb_server_start(db, sock, NULL, &srv2, NULL) != SOCHDB_OK);
    CHECK(srv2 == NULL);
    CHECK_ST(sochdb_server_start(NULL, sock, NULL, &srv2, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_server_start(db, NULL, NULL, &srv2, NULL), SOCHDB_INVALID_ARGUMENT);
    CHECK_ST(sochdb_server_start(db, sock, NULL, NULL, NULL), SOCHDB_INVALID_ARGUMENT);
    sochdb_server_options badso = so;
    badso.struct_size = 1;
    CHECK_ST(sochdb_server_start(db, sock, &badso, &srv2, NULL), SOCHDB_INVALID_ARGUMENT);

    CHECK_ST(sochdb_server_stop(srv, NULL), SOCHDB_OK);
    CHECK_ST(sochdb_server_stop(srv, NULL), SOCHDB_CLOSED);
    CHECK_ST(sochdb_server_stop(NULL, NULL), SOCHDB_OK);
    CHECK(sochdb_connect(sock, NULL, &remote, NULL) != SOCHDB_OK);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

/* ---------------------------------------------------------------- threads */

enum { THREADS = 4 };

struct worker {
    sochdb_db *db;
    int id;
    int ops;
    int errors;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    char key[64], val[64], got[64];
    for (int i = 0; i < w->ops; i++) {
        snprintf(key, sizeof key, "threads/w%d/%d", w->id, i);
        snprintf(val, sizeof val, "%d", i * 7);
        if (sochdb_put(w->db, NULL, B(key), B(val), NULL) != SOCHDB_OK) w->errors++;
        if (get_str(w->db, NULL, key, got, sizeof got) != SOCHDB_OK || strcmp(got, val) != 0)
            w->errors++;
        if (increment(w->db, "threads/counter") < 0) w->errors++;
        if (i % 8 == 0) {
            sochdb_iter *it = NULL;
            snprintf(key, sizeof key, "threads/w%d/", w->id);
            if (sochdb_scan_prefix(w->db, NULL, B(key), 0, 0, &it, NULL) != SOCHDB_OK) {
                w->errors++;
                continue;
            }
            int n = 0;
            while (sochdb_iter_next(it, NULL, NULL, NULL) == SOCHDB_OK) n++;
            if (n != i + 1) w->errors++;
            sochdb_iter_free(it);
        }
    }
    return NULL;
}

static void test_threads(void) {
    sochdb_db *db = db_for("threads");
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){db, i, 40 * scale, 0};
        CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].errors == 0);
    }
    char val[32];
    CHECK_ST(get_str(db, NULL, "threads/counter", val, sizeof val), SOCHDB_OK);
    CHECK(strtol(val, NULL, 10) == THREADS * 40 * scale);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
}

struct racer {
    sochdb_db *db;
    int bad;
    int closed;
};

static void *racer_main(void *arg) {
    struct racer *r = arg;
    for (int i = 0; i < 100000; i++) {
        sochdb_status st = sochdb_put(r->db, NULL, B("race/k"), B("v"), NULL);
        if (st == SOCHDB_CLOSED) {
            r->closed = 1;
            break;
        }
        if (st != SOCHDB_OK) r->bad++;
    }
    return NULL;
}

/* Closing a handle while other threads use it: they see OK, then CLOSED; never a crash. */
static void test_close_while_in_use(void) {
    sochdb_db *db = db_for("race");
    pthread_t th[THREADS];
    struct racer r[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (struct racer){db, 0, 0};
        CHECK(pthread_create(&th[i], NULL, racer_main, &r[i]) == 0);
    }
    char val[8];
    for (int i = 0; i < 20; i++) get_str(db, NULL, "race/k", val, sizeof val);
    CHECK_ST(sochdb_close(db, NULL), SOCHDB_OK);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(r[i].bad == 0);
        CHECK(r[i].closed == 1);
    }
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "inproc") != 0 && strcmp(argv[1], "socket") != 0)) {
        fprintf(stderr, "usage: %s inproc DIR | socket PATH\n", argv[0]);
        return 2;
    }
    socket_mode = strcmp(argv[1], "socket") == 0;
    target = argv[2];
    const char *s = getenv("SOCHDB_TEST_SCALE");
    if (s && atoi(s) > 0) scale = atoi(s);
    printf("C API suite, %s mode (%s)\n", argv[1], target);

    RUN(test_version_and_status);
    RUN(test_error_objects);
    RUN(test_options);
    RUN(test_kv);
    RUN(test_kv_bad_input);
    RUN(test_txn);
    RUN(test_conflict);
    RUN(test_batch);
    RUN(test_iter);
    RUN(test_paths);
    RUN(test_tables);
    RUN(test_query);
    RUN(test_checkpoint_and_stats);
    RUN(test_compact);
    RUN(test_closed_handles);
    RUN(test_txn_outlives_db);
    RUN(test_server);
    RUN(test_threads);
    RUN(test_close_while_in_use);
    return check_report();
}
