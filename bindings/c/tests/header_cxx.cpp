// The public header compiles as C++ too.
#include "sochdb.h"
int sochdb_header_compiles_as_cxx() { return SOCHDB_VERSION_MAJOR; }
