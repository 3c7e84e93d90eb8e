#include "testlib.h"
typedef int testlib_placeholder;
