/* The interface kvbench drives every engine through.
 *
 * One driver per engine (bench/drivers/NAME.c) maps these calls onto that engine's own
 * C API, using the calls a careful user of that engine would use. Every call reports its
 * own failures on stderr (engine name, operation, the engine's message) and returns
 * KV_ERR, so kvbench only counts and never guesses at an engine's error text.
 *
 * Threads: a kv_db is shared by all threads of a workload; each thread opens its own
 * kv_conn and uses it (and the cursors and transactions made from it) alone.
 */
#ifndef KVBENCH_DRIVER_H
#define KVBENCH_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/* Return codes of driver calls. */
#define KV_OK 0
#define KV_NOTFOUND 1 /* get: absent key; cursor_next: end of the range */
#define KV_CONFLICT 2 /* txn_commit: a concurrent transaction won; retry */
#define KV_ERR (-1)

/* How a commit reaches stable storage before it returns (see bench/README.md). */
enum kv_durability {
  KV_SYNC = 0,     /* synced before the commit returns */
  KV_BUFFERED = 1, /* handed to the OS at commit; a process crash loses nothing */
  KV_NONE = 2,     /* bulk load: no sync per commit; close makes it durable */
};

/* Flags of open(). */
#define KV_OPEN_TXN 1u /* transactions (txn_*) will be used */

typedef struct kv_db kv_db;         /* an open database, shared by threads */
typedef struct kv_conn kv_conn;     /* one thread's handle on a kv_db */
typedef struct kv_cursor kv_cursor; /* an ordered range read from a kv_conn */
typedef struct kv_txn kv_txn;       /* a read-write transaction from a kv_conn */

/* One key-value pair of a write batch. */
typedef struct {
  const uint8_t *key;
  size_t klen;
  const uint8_t *val;
  size_t vlen;
} kv_pair;

typedef struct {
  /* Short lower-case engine name, as given to --engines. */
  const char *name;
  /* The engine library's version, for the report. */
  const char *(*version)(void);
  /* Opens (creating if missing) the database in directory dir, which exists. */
  kv_db *(*open)(const char *dir, enum kv_durability durability, unsigned flags);
  /* Closes the database; after a KV_NONE load everything written is durable. */
  int (*close)(kv_db *db);
  /* Full manual compaction where the engine has one, else NULL. */
  int (*compact)(kv_db *db);

  kv_conn *(*conn_open)(kv_db *db);
  void (*conn_close)(kv_conn *c);

  /* One put, committed on its own. */
  int (*put)(kv_conn *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
  /* n puts committed atomically as one write. */
  int (*write_batch)(kv_conn *c, const kv_pair *pairs, size_t n);
  /* Copies up to cap bytes of the value into buf and its full length into *vlen. */
  int (*get)(kv_conn *c, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
             size_t *vlen);

  /* Forward range read from the first key >= start (start NULL: from the first key). */
  kv_cursor *(*cursor_open)(kv_conn *c, const uint8_t *start, size_t sl);
  /* The next entry; the pointers stay valid until the next call on the cursor. */
  int (*cursor_next)(kv_cursor *cur, const uint8_t **k, size_t *kl, const uint8_t **v,
                     size_t *vl);
  void (*cursor_close)(kv_cursor *cur);

  kv_txn *(*txn_begin)(kv_conn *c);
  int (*txn_get)(kv_txn *t, const uint8_t *k, size_t kl, uint8_t *buf, size_t cap,
                 size_t *vlen);
  int (*txn_put)(kv_txn *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
  /* Commits and frees the transaction: KV_OK, KV_CONFLICT or KV_ERR. */
  int (*txn_commit)(kv_txn *t);
  /* Rolls back and frees the transaction. */
  void (*txn_abort)(kv_txn *t);
} kv_driver;

#endif
