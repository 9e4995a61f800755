/* A table, some rows, and a query rendered as TOON.
 *
 *   cc table_query.c $(pkg-config --cflags --libs sochdb) -o table_query && ./table_query /tmp/t
 */
#include <stdio.h>
#include <string.h>

#include "sochdb.h"

static sochdb_value text(const char *s) {
    sochdb_value v = {0};
    v.kind = SOCHDB_TYPE_TEXT;
    v.data = (const uint8_t *)s;
    v.len = strlen(s);
    return v;
}

static sochdb_value number(double f) {
    sochdb_value v = {0};
    v.kind = SOCHDB_TYPE_FLOAT64;
    v.float64 = f;
    return v;
}

int main(int argc, char **argv) {
    sochdb_db *db = NULL;
    sochdb_error *err = NULL;
    if (sochdb_open(argc > 1 ? argv[1] : "./table-demo", NULL, &db, &err) != SOCHDB_OK) goto fail;

    sochdb_column cols[] = {{"name", SOCHDB_TYPE_TEXT, 0}, {"score", SOCHDB_TYPE_FLOAT64, 1}};
    sochdb_status st = sochdb_table_create(db, "players", cols, 2, &err);
    if (st == SOCHDB_ALREADY_EXISTS) { /* a second run */
        sochdb_error_free(err);
        err = NULL;
    } else if (st != SOCHDB_OK) {
        goto fail;
    }

    const char *names[] = {"Ada", "Grace", "Linus"};
    const double scores[] = {97.5, 88, 91.25};
    for (uint64_t i = 0; i < 3; i++) {
        sochdb_field row[] = {{"name", text(names[i])}, {"score", number(scores[i])}};
        uint64_t id = i + 1;
        if (sochdb_row_upsert(db, NULL, "players", &id, row, 2, NULL, &err) != SOCHDB_OK) goto fail;
    }

    sochdb_filter good[] = {{"score", SOCHDB_OP_GE, number(90)}};
    sochdb_query_request q = {0};
    q.source = "players";
    q.filters = good;
    q.filter_count = 1;
    sochdb_result result = {0};
    if (sochdb_query(db, NULL, &q, &result, &err) != SOCHDB_OK) goto fail;
    printf("%zu rows with score >= 90\n", result.row_count);
    sochdb_buf toon = {0};
    if (sochdb_result_toon(&result, &toon, &err) != SOCHDB_OK) goto fail;
    printf("%s\n", (const char *)toon.data); /* text buffers are NUL-terminated */
    sochdb_buf_free(&toon);
    sochdb_result_free(&result);
    sochdb_close(db, NULL);
    return 0;

fail:
    fprintf(stderr, "error: %s\n", sochdb_error_message(err));
    sochdb_error_free(err);
    sochdb_close(db, NULL);
    return 1;
}
