#ifndef DARTS_DIST_CBLAS_SHIM_H
#define DARTS_DIST_CBLAS_SHIM_H
#include <cblas.h>
#endif
