/* Iteration: a prefix scan, then a reverse range scan with a limit.
 *
 *   cc iterate.c $(pkg-config --cflags --libs sochdb) -o iterate && ./iterate /tmp/iter-demo
 */
#include <stdio.h>
#include <string.h>

#include "sochdb.h"

#define KEY(s) (const uint8_t *)(s), strlen(s)

static int print_all(sochdb_iter *it) {
    sochdb_slice key, value;
    sochdb_error *err = NULL;
    sochdb_status st;
    /* The views are valid until the next sochdb_iter_next or sochdb_iter_free. */
    while ((st = sochdb_iter_next(it, &key, &value, &err)) == SOCHDB_OK)
        printf("  %.*s = %.*s\n", (int)key.len, (const char *)key.data, (int)value.len,
               (const char *)value.data);
    sochdb_iter_free(it);
    if (st != SOCHDB_NOT_FOUND) { /* NOT_FOUND marks the end */
        fprintf(stderr, "iteration: %s\n", sochdb_error_message(err));
        sochdb_error_free(err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    sochdb_db *db = NULL;
    if (sochdb_open(argc > 1 ? argv[1] : "./iter-demo", NULL, &db, NULL) != SOCHDB_OK) {
        fprintf(stderr, "open: %s\n", sochdb_last_error_message());
        return 1;
    }
    const char *fruit[] = {"fruit/apple", "fruit/banana", "fruit/cherry", "veg/leek"};
    sochdb_batch *batch = NULL;
    sochdb_batch_new(&batch, NULL);
    for (int i = 0; i < 4; i++) sochdb_batch_put(batch, KEY(fruit[i]), KEY("1kg"), NULL);
    sochdb_write_batch(db, batch, NULL, NULL); /* all four keys in one commit */
    sochdb_batch_free(batch);

    sochdb_iter *it = NULL;
    int rc = 0;
    printf("prefix fruit/:\n");
    if (sochdb_scan_prefix(db, NULL, KEY("fruit/"), 0, 0, &it, NULL) == SOCHDB_OK) rc |= print_all(it);
    printf("[fruit/b, end) reversed, at most 2:\n");
    if (sochdb_scan_range(db, NULL, KEY("fruit/b"), NULL, 0, SOCHDB_SCAN_REVERSE, 2, &it, NULL) ==
        SOCHDB_OK)
        rc |= print_all(it);
    sochdb_close(db, NULL);
    return rc;
}
