/* Embedded key-value: open a database in this process, write, read, delete.
 *
 *   cc kv.c $(pkg-config --cflags --libs sochdb) -o kv && ./kv /tmp/kv-demo
 */
#include <stdio.h>
#include <string.h>

#include "sochdb.h"

/* Prints the error of a failed call, frees it, and returns 1. */
static int fail(const char *what, sochdb_status st, sochdb_error *err) {
    fprintf(stderr, "%s failed: %s: %s\n", what, sochdb_status_str(st), sochdb_error_message(err));
    sochdb_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./kv-demo";
    sochdb_db *db = NULL;
    sochdb_error *err = NULL;
    sochdb_status st = sochdb_open(dir, NULL, &db, &err); /* NULL options: the defaults */
    if (st != SOCHDB_OK) return fail("open", st, err);

    const char *key = "greeting", *value = "hello, world";
    st = sochdb_put(db, NULL, (const uint8_t *)key, strlen(key), (const uint8_t *)value,
                    strlen(value), &err);
    if (st != SOCHDB_OK) return fail("put", st, err);

    sochdb_buf got = {0};
    st = sochdb_get(db, NULL, (const uint8_t *)key, strlen(key), &got, &err);
    if (st == SOCHDB_OK)
        printf("%s = %.*s\n", key, (int)got.len, (const char *)got.data);
    else if (st == SOCHDB_NOT_FOUND)
        printf("%s is absent\n", key);
    else
        return fail("get", st, err);
    sochdb_buf_free(&got); /* every returned buffer is freed with sochdb_buf_free */

    st = sochdb_delete(db, NULL, (const uint8_t *)key, strlen(key), &err);
    if (st != SOCHDB_OK) return fail("delete", st, err);
    st = sochdb_get(db, NULL, (const uint8_t *)key, strlen(key), &got, NULL);
    printf("after delete: %s\n", sochdb_status_str(st)); /* NOT_FOUND */

    st = sochdb_close(db, &err);
    if (st != SOCHDB_OK) return fail("close", st, err);
    return 0;
}
