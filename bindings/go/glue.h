/* The C glue of the Go SDK. Its functions let one cgo call do what would otherwise take
 * several (commit and free, a batch, a query and its rendering, many iterator steps).
 * They take arrays of pointer-free descriptors whose bytes live in one Go arena, so
 * that Go memory handed to C never holds Go pointers (the cgo pointer rules). Nothing
 * here keeps a pointer after it returns. */
#ifndef SOCHDB_GO_GLUE_H
#define SOCHDB_GO_GLUE_H

#include <stddef.h>
#include <stdint.h>
#include "sochdb.h"

/* A typed value whose text or binary bytes are arena[off, off+len). */
typedef struct sgo_value {
    uint32_t kind;
    uint32_t boolean;
    int64_t int64;
    uint64_t uint64;
    double float64;
    size_t off;
    size_t len;
} sgo_value;

/* A column name (NUL-terminated at arena[name]) and a value. */
typedef struct sgo_field {
    size_t name;
    sgo_value value;
} sgo_field;

/* A column definition; the name is NUL-terminated at arena[name]. */
typedef struct sgo_column {
    size_t name;
    uint32_t kind;
    uint32_t nullable;
} sgo_column;

/* A query filter: column (NUL-terminated at arena[column]), comparison, value. */
typedef struct sgo_filter {
    size_t column;
    uint32_t op;
    sgo_value value;
} sgo_filter;

/* One batch operation: a put (SGO_PUT) or a delete (SGO_DELETE) of
 * arena[key_off, key_off+key_len), with arena[value_off, value_off+value_len). */
typedef struct sgo_op {
    uint32_t kind;
    size_t key_off;
    size_t key_len;
    size_t value_off;
    size_t value_len;
} sgo_op;

enum { SGO_PUT = 0, SGO_DELETE = 1 };
enum { SGO_INSERT = 0, SGO_UPSERT = 1, SGO_UPDATE = 2 };
enum { SGO_RENDER_NONE = 0, SGO_RENDER_TOON = 1, SGO_RENDER_JSON = 2 };

/* Returned (besides the sochdb statuses) when the glue cannot allocate. */
#define SGO_NO_MEMORY (-1)

/* What sgo_get hands back. Its pointers are stored as integers so that the struct
 * holds no pointer: cgo then has nothing to check when Go passes its address, which
 * keeps the common read to one cheap call. sgo_read_take and sgo_read_error turn them
 * back into what they are. */
typedef struct sgo_read {
    size_t len;          /* the value's length */
    uintptr_t big_data;  /* a value larger than dst: the library's buffer ... */
    size_t big_cap;      /* ... and its allocation size */
    uintptr_t err;       /* the error object of a failure */
} sgo_read;

/* Reads a key (or, when path is not NULL, a path). A value of at most dst_cap bytes is
 * copied into dst and its buffer freed; a larger one is left in out->big_*. */
sochdb_status sgo_get(sochdb_db *db, sochdb_txn *txn, const uint8_t *key, size_t key_len,
                      const char *path, uint8_t *dst, size_t dst_cap, sgo_read *out);

/* Copies the large value of a read into dst (out->len bytes) and frees its buffer. */
void sgo_read_take(sgo_read *out, uint8_t *dst);

/* The error object of a failed read. */
sochdb_error *sgo_read_error(const sgo_read *out);

sochdb_status sgo_commit(sochdb_txn *txn, uint64_t *commit_ts, sochdb_error **err);

sochdb_status sgo_row_write(int mode, sochdb_db *db, sochdb_txn *txn, const char *table,
                            const uint64_t *row_id, uint64_t update_id, const uint8_t *arena,
                            const sgo_field *fields, size_t count, uint64_t *out_row_id,
                            sochdb_error **err);

sochdb_status sgo_table_create(sochdb_db *db, const char *name, const uint8_t *arena,
                               const sgo_column *columns, size_t count, sochdb_error **err);

sochdb_status sgo_query(sochdb_db *db, sochdb_txn *txn, const uint8_t *arena, size_t source,
                        const size_t *columns, size_t column_count, const sgo_filter *filters,
                        size_t filter_count, uint64_t limit, uint64_t offset, int render,
                        int keep_result, struct sochdb_result *result, sochdb_buf *text,
                        sochdb_error **err);

sochdb_status sgo_write_batch(sochdb_db *db, const uint8_t *arena, const sgo_op *ops,
                              size_t count, uint64_t *commit_ts, sochdb_error **err);

sochdb_status sgo_iter_fill(sochdb_iter *iter, uint8_t *arena, size_t cap, size_t *lens,
                            size_t max, size_t *count, int *done, sochdb_slice *spill_key,
                            sochdb_slice *spill_value, int *spilled, sochdb_error **err);

#endif
