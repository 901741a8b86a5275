// Runs before main: a binary compiled for an x86-64 level this CPU lacks would otherwise die with
// SIGILL at its first vector instruction. This file is compiled without the level (Package.swift),
// so that it runs on every x86-64 CPU.
#include "cpu_check.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef DARTS_DIST_CPU_LEVEL
#define DARTS_DIST_CPU_LEVEL ""
#endif

const char *darts_dist_cpu_level(void) { return DARTS_DIST_CPU_LEVEL; }

// The features of each level that the compiler may use in our kernels (x86-64 psABI, "Micro
// Architecture Levels"); each level includes the ones before it.
static const char *const level_v2[] = {"sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", NULL};
static const char *const level_v3[] = {"avx", "avx2", "fma", "bmi", "bmi2", NULL};
static const char *const level_v4[] = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", NULL};

int darts_dist_cpu_supports(const char *feature) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    // __builtin_cpu_supports takes string literals only.
#define FEATURE(name) if (strcmp(feature, name) == 0) return __builtin_cpu_supports(name) != 0;
    FEATURE("sse3") FEATURE("ssse3") FEATURE("sse4.1") FEATURE("sse4.2") FEATURE("popcnt")
    FEATURE("avx") FEATURE("avx2") FEATURE("fma") FEATURE("bmi") FEATURE("bmi2")
    FEATURE("avx512f") FEATURE("avx512bw") FEATURE("avx512cd") FEATURE("avx512dq") FEATURE("avx512vl")
#undef FEATURE
#endif
    (void)feature;
    return 0;
}

static int append_missing(const char *const *features, int (*supports)(const char *), char *out, int capacity,
                          size_t *used) {
    int missing = 0;
    for (const char *const *f = features; *f != NULL; f++) {
        if (supports(*f)) continue;
        missing++;
        size_t need = strlen(*f) + (*used > 0 ? 1 : 0);
        if (out != NULL && capacity > 0 && *used + need < (size_t)capacity) {
            if (*used > 0) out[(*used)++] = ' ';
            memcpy(out + *used, *f, strlen(*f));
            *used += strlen(*f);
            out[*used] = '\0';
        }
    }
    return missing;
}

int darts_dist_missing_features(const char *level, int (*supports)(const char *feature), char *out, int capacity) {
    size_t used = 0;
    if (out != NULL && capacity > 0) out[0] = '\0';
    int tier;
    if (strcmp(level, "") == 0 || strcmp(level, "x86-64") == 0) tier = 1;
    else if (strcmp(level, "x86-64-v2") == 0) tier = 2;
    else if (strcmp(level, "x86-64-v3") == 0) tier = 3;
    else if (strcmp(level, "x86-64-v4") == 0) tier = 4;
    else return -1;
    int missing = 0;
    if (tier >= 2) missing += append_missing(level_v2, supports, out, capacity, &used);
    if (tier >= 3) missing += append_missing(level_v3, supports, out, capacity, &used);
    if (tier >= 4) missing += append_missing(level_v4, supports, out, capacity, &used);
    return missing;
}

const char *darts_dist_highest_level(int (*supports)(const char *feature)) {
    if (darts_dist_missing_features("x86-64-v4", supports, NULL, 0) == 0) return "x86-64-v4";
    if (darts_dist_missing_features("x86-64-v3", supports, NULL, 0) == 0) return "x86-64-v3";
    if (darts_dist_missing_features("x86-64-v2", supports, NULL, 0) == 0) return "x86-64-v2";
    return "x86-64";
}

static void model_name(char *out, size_t capacity) {
    snprintf(out, capacity, "unknown model");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon != NULL) {
                colon++;
                while (*colon == ' ' || *colon == '\t') colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(out, capacity, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

__attribute__((constructor)) static void darts_dist_check_cpu(void) {
#if defined(__x86_64__)
    const char *level = darts_dist_cpu_level();
    if (level[0] == '\0') return;
    char missing[256];
    int count = darts_dist_missing_features(level, darts_dist_cpu_supports, missing, (int)sizeof missing);
    if (count == 0) return;
    char model[160];
    model_name(model, sizeof model);
    char host[128] = "?";
    gethostname(host, sizeof host - 1);
    const char *highest = darts_dist_highest_level(darts_dist_cpu_supports);
    if (count < 0) {
        fprintf(stderr, "darts-dist: this build names an unknown x86-64 level \"%s\"; rebuild with DARTS_DIST_CPU set to "
                        "x86-64-v2, x86-64-v3, x86-64-v4 or host\n", level);
    } else {
        fprintf(stderr,
                "error: this darts-dist was built for %s, but the CPU of %s (%s) lacks %s: it supports %s at most.\n"
                "Build for it with `DARTS_DIST_CPU=%s swift build -c release`; for a cluster, build for the level of its "
                "oldest nodes (README, \"Clusters whose nodes differ\").\n",
                level, host, model, missing, highest, highest);
    }
    fflush(stderr);
    _exit(1);
#endif
}
