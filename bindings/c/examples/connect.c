/* Socket mode: talk to a running `sochdb serve` with the same functions as in-process.
 *
 *   sochdb serve --db ./data &          # listens on ./data/sochdb.sock
 *   cc connect.c $(pkg-config --cflags --libs sochdb) -o connect && ./connect ./data/sochdb.sock
 */
#include <stdio.h>
#include <string.h>

#include "sochdb.h"

int main(int argc, char **argv) {
    const char *sock = argc > 1 ? argv[1] : "./sochdb-data/sochdb.sock";
    sochdb_options opts;
    sochdb_options_init(&opts);
    opts.connect_timeout_ms = 2000;

    sochdb_db *db = NULL;
    sochdb_error *err = NULL;
    if (sochdb_connect(sock, &opts, &db, &err) != SOCHDB_OK) {
        fprintf(stderr, "connect %s: %s\n", sock, sochdb_error_message(err));
        sochdb_error_free(err);
        return 1;
    }
    const char *path = "sessions/42/user";
    if (sochdb_path_put(db, NULL, path, (const uint8_t *)"ada", 3, &err) != SOCHDB_OK) goto fail;
    sochdb_buf v = {0};
    if (sochdb_path_get(db, NULL, path, &v, &err) != SOCHDB_OK) goto fail;
    printf("%s = %.*s\n", path, (int)v.len, (const char *)v.data);
    sochdb_buf_free(&v);

    sochdb_buf stats = {0};
    if (sochdb_stats(db, &stats, &err) != SOCHDB_OK) goto fail;
    printf("server stats: %s\n", (const char *)stats.data);
    sochdb_buf_free(&stats);
    sochdb_close(db, NULL);
    return 0;

fail:
    fprintf(stderr, "error: %s\n", sochdb_error_message(err));
    sochdb_error_free(err);
    sochdb_close(db, NULL);
    return 1;
}
