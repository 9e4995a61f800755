/* The C glue of the Go SDK; see glue.h. */
#include <stdlib.h>
#include <string.h>

#include "glue.h"

/* Arrays of up to this many entries are built on the stack; longer ones are malloc'd. */
#define SGO_STACK_ITEMS 32

sochdb_status sgo_commit(sochdb_txn *txn, uint64_t *commit_ts, sochdb_error **err) {
    sochdb_status st = sochdb_commit(txn, commit_ts, err);
    sochdb_txn_free(txn);
    return st;
}

static sochdb_value sgo_to_value(const uint8_t *arena, const sgo_value *v) {
    sochdb_value out;
    memset(&out, 0, sizeof out);
    out.kind = v->kind;
    out.boolean = v->boolean;
    out.int64 = v->int64;
    out.uint64 = v->uint64;
    out.float64 = v->float64;
    out.data = v->len ? arena + v->off : NULL;
    out.len = v->len;
    return out;
}

sochdb_status sgo_row_write(int mode, sochdb_db *db, sochdb_txn *txn, const char *table,
                            const uint64_t *row_id, uint64_t update_id, const uint8_t *arena,
                            const sgo_field *fields, size_t count, uint64_t *out_row_id,
                            sochdb_error **err) {
    sochdb_field stack[SGO_STACK_ITEMS];
    sochdb_field *f = stack;
    if (count > SGO_STACK_ITEMS) {
        f = malloc(count * sizeof *f);
        if (f == NULL) return SGO_NO_MEMORY;
    }
    for (size_t i = 0; i < count; i++) {
        f[i].name = (const char *)arena + fields[i].name;
        f[i].value = sgo_to_value(arena, &fields[i].value);
    }
    const sochdb_field *arg = count ? f : NULL;
    sochdb_status st;
    switch (mode) {
    case SGO_INSERT:
        st = sochdb_row_insert(db, txn, table, row_id, arg, count, out_row_id, err);
        break;
    case SGO_UPSERT:
        st = sochdb_row_upsert(db, txn, table, row_id, arg, count, out_row_id, err);
        break;
    default:
        st = sochdb_row_update(db, txn, table, update_id, arg, count, err);
        break;
    }
    if (f != stack) free(f);
    return st;
}

sochdb_status sgo_table_create(sochdb_db *db, const char *name, const uint8_t *arena,
                               const sgo_column *columns, size_t count, sochdb_error **err) {
    sochdb_column stack[SGO_STACK_ITEMS];
    sochdb_column *c = stack;
    if (count > SGO_STACK_ITEMS) {
        c = malloc(count * sizeof *c);
        if (c == NULL) return SGO_NO_MEMORY;
    }
    for (size_t i = 0; i < count; i++) {
        c[i].name = (const char *)arena + columns[i].name;
        c[i].kind = columns[i].kind;
        c[i].nullable = columns[i].nullable;
    }
    sochdb_status st = sochdb_table_create(db, name, count ? c : NULL, count, err);
    if (c != stack) free(c);
    return st;
}

sochdb_status sgo_query(sochdb_db *db, sochdb_txn *txn, const uint8_t *arena, size_t source,
                        const size_t *columns, size_t column_count, const sgo_filter *filters,
                        size_t filter_count, uint64_t limit, uint64_t offset, int render,
                        int keep_result, struct sochdb_result *result, sochdb_buf *text,
                        sochdb_error **err) {
    const char *cstack[SGO_STACK_ITEMS];
    struct sochdb_filter fstack[SGO_STACK_ITEMS];
    const char **cols = cstack;
    struct sochdb_filter *fil = fstack;
    sochdb_status st = SGO_NO_MEMORY;
    if (column_count > SGO_STACK_ITEMS) {
        cols = malloc(column_count * sizeof *cols);
        if (cols == NULL) goto out;
    }
    if (filter_count > SGO_STACK_ITEMS) {
        fil = malloc(filter_count * sizeof *fil);
        if (fil == NULL) goto out;
    }
    for (size_t i = 0; i < column_count; i++) cols[i] = (const char *)arena + columns[i];
    for (size_t i = 0; i < filter_count; i++) {
        fil[i].column = (const char *)arena + filters[i].column;
        fil[i].op = filters[i].op;
        fil[i].value = sgo_to_value(arena, &filters[i].value);
    }
    struct sochdb_query_request q;
    memset(&q, 0, sizeof q);
    q.source = (const char *)arena + source;
    q.columns = column_count ? cols : NULL;
    q.column_count = column_count;
    q.filters = filter_count ? fil : NULL;
    q.filter_count = filter_count;
    q.limit = limit;
    q.offset = offset;
    st = sochdb_query(db, txn, &q, result, err);
    if (st == SOCHDB_OK && render != SGO_RENDER_NONE) {
        st = render == SGO_RENDER_JSON ? sochdb_result_json(result, text, err)
                                       : sochdb_result_toon(result, text, err);
    }
    if (st != SOCHDB_OK || !keep_result) sochdb_result_free(result);
out:
    if (cols != cstack) free(cols);
    if (fil != fstack) free(fil);
    return st;
}

sochdb_status sgo_write_batch(sochdb_db *db, const uint8_t *arena, const sgo_op *ops,
                              size_t count, uint64_t *commit_ts, sochdb_error **err) {
    sochdb_batch *b = NULL;
    sochdb_status st = sochdb_batch_new(&b, err);
    for (size_t i = 0; st == SOCHDB_OK && i < count; i++) {
        const uint8_t *k = ops[i].key_len ? arena + ops[i].key_off : NULL;
        if (ops[i].kind == SGO_DELETE) {
            st = sochdb_batch_delete(b, k, ops[i].key_len, err);
        } else {
            const uint8_t *v = ops[i].value_len ? arena + ops[i].value_off : NULL;
            st = sochdb_batch_put(b, k, ops[i].key_len, v, ops[i].value_len, err);
        }
    }
    if (st == SOCHDB_OK) st = sochdb_write_batch(db, b, commit_ts, err);
    sochdb_batch_free(b);
    return st;
}

sochdb_status sgo_iter_fill(sochdb_iter *iter, uint8_t *arena, size_t cap, size_t *lens,
                            size_t max, size_t *count, int *done, sochdb_slice *spill_key,
                            sochdb_slice *spill_value, int *spilled, sochdb_error **err) {
    size_t used = 0, n = 0;
    *count = 0;
    *done = 0;
    *spilled = 0;
    while (n < max) {
        sochdb_slice k, v;
        /* Only the first step reports an error object: a failed iterator repeats its
         * failure, so a later failure is reported by the next call, after the entries
         * already copied have been consumed. */
        sochdb_status st = sochdb_iter_next(iter, &k, &v, n == 0 ? err : NULL);
        if (st == SOCHDB_NOT_FOUND) {
            *done = 1;
            break;
        }
        if (st != SOCHDB_OK) {
            if (n == 0) return st;
            break;
        }
        if (k.len > cap - used || v.len > cap - used - k.len) {
            *spill_key = k;
            *spill_value = v;
            *spilled = 1;
            break;
        }
        if (k.len) memcpy(arena + used, k.data, k.len);
        used += k.len;
        if (v.len) memcpy(arena + used, v.data, v.len);
        used += v.len;
        lens[2 * n] = k.len;
        lens[2 * n + 1] = v.len;
        n++;
    }
    *count = n;
    if (n == 0 && !*spilled && *done) return SOCHDB_NOT_FOUND;
    return SOCHDB_OK;
}

sochdb_status sgo_get(sochdb_db *db, sochdb_txn *txn, const uint8_t *key, size_t key_len,
                      const char *path, uint8_t *dst, size_t dst_cap, sgo_read *out) {
    sochdb_buf v = {0};
    sochdb_error *err = NULL;
    memset(out, 0, sizeof *out);
    sochdb_status st = path ? sochdb_path_get(db, txn, path, &v, &err)
                            : sochdb_get(db, txn, key, key_len, &v, &err);
    out->err = (uintptr_t)err;
    out->len = v.len;
    if (st != SOCHDB_OK) return st;
    if (v.len <= dst_cap) {
        if (v.len) memcpy(dst, v.data, v.len);
        sochdb_buf_free(&v);
    } else {
        out->big_data = (uintptr_t)v.data;
        out->big_cap = v.cap;
    }
    return SOCHDB_OK;
}

void sgo_read_take(sgo_read *out, uint8_t *dst) {
    sochdb_buf v;
    v.data = (uint8_t *)out->big_data;
    v.len = out->len;
    v.cap = out->big_cap;
    if (v.data == NULL) return;
    memcpy(dst, v.data, v.len);
    sochdb_buf_free(&v);
    out->big_data = 0;
    out->big_cap = 0;
}

sochdb_error *sgo_read_error(const sgo_read *out) { return (sochdb_error *)out->err; }
