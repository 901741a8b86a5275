#ifndef DARTS_DIST_CPU_CHECK_H
#define DARTS_DIST_CPU_CHECK_H

/// The x86-64 level this build was compiled for ("x86-64-v3", "x86-64-v4", ...; Package.swift,
/// DARTS_DIST_CPU), or "" for builds without a level (debug builds, other architectures).
const char *darts_dist_cpu_level(void);

/// Whether this CPU has `feature`, a name of __builtin_cpu_supports ("avx2", "avx512f", ...); 0 for
/// names this check does not know.
int darts_dist_cpu_supports(const char *feature);

/// The CPU features that the x86-64 `level` needs (the psABI's micro-architecture levels; for v3
/// the vector and bit-manipulation ones) and `supports` lacks, written space-separated into `out`
/// (at most `capacity` bytes, NUL-terminated). Returns their count; -1 for an unknown level.
int darts_dist_missing_features(const char *level, int (*supports)(const char *feature), char *out, int capacity);

/// The highest level in x86-64, x86-64-v2, x86-64-v3, x86-64-v4 that `supports` meets.
const char *darts_dist_highest_level(int (*supports)(const char *feature));

#endif
