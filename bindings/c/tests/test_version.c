/* The library links and reports the header's version. */
#include <stdio.h>
#include <string.h>
#include "sochdb.h"

int main(void) {
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", SOCHDB_VERSION_MAJOR, SOCHDB_VERSION_MINOR,
             SOCHDB_VERSION_PATCH);
    int failed = strcmp(sochdb_version(), expect) != 0;
    if (failed) fprintf(stderr, "version: got %s, want %s\n", sochdb_version(), expect);
    printf("%d passed, %d failed\n", failed ? 0 : 1, failed);
    return failed;
}
