/* A transaction that moves money between two accounts, retried on conflict.
 *
 *   cc txn_retry.c $(pkg-config --cflags --libs sochdb) -o txn_retry && ./txn_retry /tmp/bank
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sochdb.h"

#define KEY(s) (const uint8_t *)(s), strlen(s)

/* Reads an integer balance inside `txn` (absent: 0). */
static sochdb_status balance(sochdb_db *db, sochdb_txn *txn, const char *acct, long *out,
                             sochdb_error **err) {
    sochdb_buf v = {0};
    sochdb_status st = sochdb_get(db, txn, KEY(acct), &v, err);
    *out = 0;
    if (st == SOCHDB_OK) {
        char text[32] = {0};
        memcpy(text, v.data, v.len < sizeof text - 1 ? v.len : sizeof text - 1);
        *out = strtol(text, NULL, 10);
    }
    sochdb_buf_free(&v);
    return st == SOCHDB_NOT_FOUND ? SOCHDB_OK : st;
}

static sochdb_status set_balance(sochdb_db *db, sochdb_txn *txn, const char *acct, long n,
                                 sochdb_error **err) {
    char text[32];
    snprintf(text, sizeof text, "%ld", n);
    return sochdb_put(db, txn, KEY(acct), KEY(text), err);
}

/* One attempt: read both balances, write both, commit. */
static sochdb_status transfer_once(sochdb_db *db, const char *from, const char *to, long amount,
                                   sochdb_error **err) {
    sochdb_txn *txn = NULL;
    sochdb_status st = sochdb_begin(db, 0, &txn, err); /* 0: serializable, read-write */
    if (st != SOCHDB_OK) return st;
    long a = 0, b = 0;
    if ((st = balance(db, txn, from, &a, err)) == SOCHDB_OK &&
        (st = balance(db, txn, to, &b, err)) == SOCHDB_OK &&
        (st = set_balance(db, txn, from, a - amount, err)) == SOCHDB_OK &&
        (st = set_balance(db, txn, to, b + amount, err)) == SOCHDB_OK) {
        uint64_t ts = 0;
        st = sochdb_commit(txn, &ts, err);
        if (st == SOCHDB_OK) printf("committed at timestamp %llu\n", (unsigned long long)ts);
    }
    sochdb_txn_free(txn); /* aborts it if it did not commit */
    return st;
}

int main(int argc, char **argv) {
    sochdb_db *db = NULL;
    sochdb_error *err = NULL;
    if (sochdb_open(argc > 1 ? argv[1] : "./bank-demo", NULL, &db, &err) != SOCHDB_OK) {
        fprintf(stderr, "open: %s\n", sochdb_error_message(err));
        sochdb_error_free(err);
        return 1;
    }
    sochdb_status st = SOCHDB_CONFLICT;
    for (int attempt = 1; attempt <= 10 && st == SOCHDB_CONFLICT; attempt++) {
        sochdb_error_free(err);
        err = NULL;
        st = transfer_once(db, "acct/alice", "acct/bob", 25, &err);
        if (st == SOCHDB_CONFLICT) printf("attempt %d conflicted; retrying\n", attempt);
    }
    if (st != SOCHDB_OK) fprintf(stderr, "transfer: %s\n", sochdb_error_message(err));
    sochdb_error_free(err);

    long a = 0, b = 0;
    balance(db, NULL, "acct/alice", &a, NULL);
    balance(db, NULL, "acct/bob", &b, NULL);
    printf("alice %ld, bob %ld\n", a, b);
    sochdb_close(db, NULL);
    return st == SOCHDB_OK ? 0 : 1;
}
