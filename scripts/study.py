#!/usr/bin/env python3
"""Is the search worth running? Searched cells against random cells and DARTS_V2, all retrained alike.

For each search configuration (a named set of `darts-dist search` flags) it runs S searches
(`--seed 1` ... `--seed S`), draws R random cells (`darts-dist genotype --random --seed i`), adds
DARTS_V2, and retrains every cell under ONE retrain configuration (the same flags and the same
retrain seed for all; `--retrain-seeds T` adds seeds). A search's cell is its run folder's final
genotype.json, chosen on validation data: the test set is seen only by the retrains.

    scripts/study.py --out runs/study --seeds 4 --random-cells 4 \\
        --config plain="" --config second="--second-order" \\
        --search-args "--epochs 8 --subset 6400" --retrain-args "--preset fast"

A derived configuration (`--derive NAME=BASE:FLAGS`) takes the cells of BASE's searches again
with other derivation flags (`darts-dist genotype SEARCH FLAGS`, e.g. `--max-parameter-free-reduce
2`): a rule that changes only the derived genotype, never a training step, so it needs no search
of its own, only the retrains. Derived configurations can be added to a finished study.

An exploratory study of one more configuration can take the random cells of an earlier study
instead of retraining them (`--reuse-random EARLIER --random-seed B --random-cells R` with the
earlier study's retrain flags): their finished retrains are copied, not run again. A confirmatory
study draws new random cells instead.

Searched cells tend to be larger than random ones, and accuracy rises with parameters. A second
control group, random cells matched in size (`--size-matched NAME:K`), tells whether size alone
gives the lead. Once every search and retrain has finished, the study counts the parameters of the
candidate random cells (`--matched-seeds A:B`; by default the 1000 seeds after the random cells')
and of the cells of configuration NAME, each with `darts-dist retrain --genotype CELL RETRAIN-FLAGS
--dry-run` (one process, no launcher; cached in OUT/matched.json). Then, for each cell of NAME,
largest first, it takes the K candidates not taken before whose parameters are nearest to that
cell's (ties: the smaller seed), and retrains them like the random cells (group "matched", cells
OUT/cells/matched_SEED.json). The report compares every searched group with them too. Size-matched
cells can be added to a finished study.

Writes OUT/searches/CONFIG/seed_i, OUT/cells/NAME.json, OUT/retrains/NAME/seed_j, OUT/logs/,
OUT/matched.json (with --size-matched), and OUT/study.md, OUT/study.json, OUT/study.svg. Killed at
any moment, the same command continues: finished runs (result.json) are kept, interrupted ones go
on with `--resume`, a run folder without a checkpoint yet is moved to OUT/aside/ and started again,
the parameter counts go on from the last ones saved. The same command, that is: the same
arguments and the same darts-dist build (study.json records its SHA-256; another build may train
differently and is refused unless --other-build). Standard library only.
"""

import argparse
import hashlib
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PARAMETER_FREE = ("max_pool_3x3", "avg_pool_3x3", "skip_connect")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_LAUNCHER = "mpirun -np 2 -x OPENBLAS_NUM_THREADS=1"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RESERVED = {"random", "darts_v2", "matched"}


# ---------------------------------------------------------------------------------------------
# Statistics (standard library only)


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def sample_std(values):
    """Sample standard deviation (n - 1); nan for fewer than 2 values."""
    n = len(values)
    if n < 2:
        return float("nan")
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t, df):
    """P(T > t) for Student's t with df degrees of freedom (df > 0, not necessarily whole)."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def chi2_cdf(x, df):
    """P(X <= x) for the chi-squared distribution with df degrees of freedom: the regularized lower
    incomplete gamma function P(df / 2, x / 2), by its power series (converges for every x)."""
    if x <= 0.0:
        return 0.0
    a, z = df / 2.0, x / 2.0
    term = total = 1.0 / a
    n = 1
    while abs(term) > 1e-17 * abs(total) and n < 100000:
        term *= z / (a + n)
        total += term
        n += 1
    return min(1.0, math.exp(a * math.log(z) - z - math.lgamma(a)) * total)


def chi2_quantile(q, df):
    """The x with chi2_cdf(x, df) = q (0 < q < 1), by bisection."""
    lo, hi = 0.0, max(1.0, 2.0 * df)
    while chi2_cdf(hi, df) < q:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if chi2_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def normal_sf(z):
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def welch_greater(x, y):
    """One-sided Welch t-test of mean(x) > mean(y): (t, df, p); None when a group has < 2 values."""
    nx, ny = len(x), len(y)
    if nx < 2 or ny < 2:
        return None
    vx, vy = sample_std(x) ** 2 / nx, sample_std(y) ** 2 / ny
    diff = mean(x) - mean(y)
    se2 = vx + vy
    if se2 == 0.0:
        if diff == 0.0:
            return None
        return (math.copysign(float("inf"), diff), float(nx + ny - 2), 0.0 if diff > 0 else 1.0)
    t = diff / math.sqrt(se2)
    df = se2 ** 2 / (vx ** 2 / (nx - 1) + vy ** 2 / (ny - 1))
    return (t, df, t_sf(t, df))


def _ranks(values):
    """Average ranks (1-based) of `values`, and the tie groups' sizes."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def spearman(x, y):
    """Spearman's rank correlation of paired values (average ranks for ties) and its two-sided p
    from the t approximation with n - 2 degrees of freedom: (rho, p); None for fewer than 3 pairs
    or a constant variable."""
    n = len(x)
    if n != len(y) or n < 3:
        return None
    rx, ry = _ranks(list(x))[0], _ranks(list(y))[0]
    mx, my = mean(rx), mean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    rho = sxy / math.sqrt(sxx * syy)
    if abs(rho) >= 1.0:
        return (rho, 0.0)
    t = rho * math.sqrt((n - 2) / (1.0 - rho * rho))
    return (rho, 2.0 * t_sf(abs(t), n - 2))


def _exact_u_counts(n1, n2):
    """counts[u] = number of arrangements of n1 x's and n2 y's with U = u (no ties)."""
    # f[i][j] = distribution for i x's and j y's; U counts pairs with x above y.
    table = {}
    for i in range(n1 + 1):
        for j in range(n2 + 1):
            if i == 0 or j == 0:
                table[(i, j)] = [1]
                continue
            # the largest value is an x (adds j pairs) or a y (adds none)
            a, b = table[(i - 1, j)], table[(i, j - 1)]
            out = [0] * (i * j + 1)
            for u, c in enumerate(a):
                out[u + j] += c
            for u, c in enumerate(b):
                out[u] += c
            table[(i, j)] = out
    return table[(n1, n2)]


def mann_whitney_greater(x, y, exact_limit=30):
    """One-sided Mann-Whitney U test of x tending to exceed y: (U, p, method); None if a group is empty.

    U counts the pairs (x_i, y_j) with x_i > y_j, ties as 1/2. Exact (the null distribution of U
    enumerated) when there are no ties and n1 + n2 <= exact_limit; otherwise the normal
    approximation with tie correction and continuity correction.
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return None
    ranks, ties = _ranks(list(x) + list(y))
    r1 = sum(ranks[:n1])
    u = r1 - n1 * (n1 + 1) / 2.0
    if not ties and n1 + n2 <= exact_limit:
        counts = _exact_u_counts(n1, n2)
        total = sum(counts)
        p = sum(counts[int(round(u)):]) / total
        return (u, p, "exact")
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1))
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:
        return (u, 1.0 if u <= mu else 0.0, "normal")
    z = (u - mu - 0.5) / math.sqrt(var)
    return (u, normal_sf(z), "normal")


def solve(a, b):
    """x with a x = b, for a small square matrix a (lists of rows), by Gaussian elimination with
    partial pivoting; None when a is singular (a pivot below 1e-12 of the largest entry)."""
    n = len(a)
    m = [list(map(float, row)) + [float(v)] for row, v in zip(a, b)]
    scale = max((abs(v) for row in a for v in row), default=0.0)
    if scale == 0.0:
        return None
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) <= 1e-12 * scale:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in reversed(range(n)):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def size_adjusted_greater(group, random):
    """Analysis of covariance of test top-1 on parameters: the least-squares fit of
    y = b0 + b1 * (parameters / 1000) + b2 * [cell in group] over the group's and the random cells,
    each given as (parameters, test top-1). b2 is the group's lead over random cells of the same
    size under a straight line common to both; its one-sided t-test (b2 > 0) has n - 3 degrees of
    freedom. Returns {"effect": b2, "slope": b1 (per 1,000 parameters), "t", "df", "p",
    "residualStd"}, or None with fewer than 4 cells, an empty group, or parameters that cannot
    separate the slope from the group (all equal within a group and the random cells alike)."""
    cells = [(p / 1000.0, y, 1.0) for p, y in group] + [(p / 1000.0, y, 0.0) for p, y in random]
    n = len(cells)
    if not group or not random or n < 4:
        return None
    centre = mean([x for x, _, _ in cells])       # centred parameters: the same slope and offset, better conditioned
    cells = [(x - centre, y, d) for x, y, d in cells]
    rows = [(1.0, x, d) for x, _, d in cells]
    xtx = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    xty = [sum(r[i] * y for r, (_, y, _) in zip(rows, cells)) for i in range(3)]
    b = solve(xtx, xty)
    if b is None:
        return None
    residuals = [y - (b[0] + b[1] * x + b[2] * d) for x, y, d in cells]
    df = n - 3
    rss = sum(r * r for r in residuals)
    s2 = rss / df
    unit = solve(xtx, [0.0, 0.0, 1.0])             # the last column of (X'X)^-1
    if unit is None or unit[2] <= 0:
        return None
    my = mean([y for _, y, _ in cells])
    if rss <= 1e-20 * sum((y - my) ** 2 for _, y, _ in cells):   # an exact fit: rounding is all that is left
        t = 0.0 if abs(b[2]) <= 1e-9 * max(abs(my), 1.0) else math.copysign(float("inf"), b[2])
    else:
        t = b[2] / math.sqrt(s2 * unit[2])
    return {"effect": b[2], "slope": b[1], "t": t, "df": df, "p": t_sf(t, df),
            "residualStd": math.sqrt(s2)}


def pooled_retrain_noise(values_per_cell):
    """The retrain noise: the standard deviation within cells, pooled over every cell retrained
    with two or more seeds (sum of squared deviations from each cell's mean over the sum of
    (seeds - 1)). Returns (std, degrees of freedom, cells), or None when no cell has two seeds."""
    used = [v for v in values_per_cell if len(v) >= 2]
    df = sum(len(v) - 1 for v in used)
    if df == 0:
        return None
    ss = sum(sum((x - mean(v)) ** 2 for x in v) for v in used)
    return (math.sqrt(ss / df), df, len(used))


def std_interval(std, df, level=0.95):
    """The two-sided confidence interval of a normal population's standard deviation from a sample
    standard deviation `std` with df degrees of freedom: std sqrt(df / chi2 quantiles)."""
    tail = (1.0 - level) / 2.0
    return (std * math.sqrt(df / chi2_quantile(1.0 - tail, df)), std * math.sqrt(df / chi2_quantile(tail, df)))


# ---------------------------------------------------------------------------------------------
# Arguments


def parse_config(text):
    if "=" not in text:
        raise SystemExit(f"study.py: --config {text!r}: write NAME=FLAGS (NAME=\"\" for the default search)")
    name, flags = text.split("=", 1)
    return name.strip(), flags.strip()


def load_configs(args):
    configs = []
    if args.configs_file:
        with open(args.configs_file) as f:
            data = json.load(f)
        if isinstance(data, dict):
            configs += [(str(k), v if isinstance(v, str) else shlex.join(v)) for k, v in data.items()]
        elif isinstance(data, list):
            for item in data:
                flags = item.get("args", item.get("flags", ""))
                configs.append((str(item["name"]), flags if isinstance(flags, str) else shlex.join(flags)))
        else:
            raise SystemExit(f"study.py: {args.configs_file}: give an object {{NAME: FLAGS}} or a list of {{name, args}}")
    configs += [parse_config(c) for c in args.config]
    if not configs:
        configs = [("plain", "")]
    seen = set()
    for name, flags in configs:
        if not NAME_PATTERN.match(name) or name in RESERVED or name in seen:
            raise SystemExit(f"study.py: configuration name {name!r}: use letters, digits, '_', '.', '-', "
                             f"once each, not {', '.join(sorted(RESERVED))}")
        seen.add(name)
        check_flags(f"--config {name}", flags, ("--seed", "--out", "--resume"))
    return configs


def parse_derived(text, configs):
    """NAME=BASE:FLAGS -> (name, base, flags)."""
    if "=" not in text or ":" not in text.split("=", 1)[1]:
        raise SystemExit(f"study.py: --derive {text!r}: write NAME=BASE:FLAGS, e.g. "
                         "capped=robust:\"--max-parameter-free 2 --max-parameter-free-reduce 2\"")
    name, rest = text.split("=", 1)
    base, flags = rest.split(":", 1)
    name, base, flags = name.strip(), base.strip(), flags.strip()
    if base not in dict(configs):
        raise SystemExit(f"study.py: --derive {name}: {base!r} is not a search configuration of this study "
                         f"({', '.join(n for n, _ in configs)})")
    check_flags(f"--derive {name}", flags, ("--format", "--dot", "--random", "--seed"))
    return name, base, flags


def parse_size_matched(args, names):
    """--size-matched NAME:K and --matched-seeds A:B -> args.size_matched (NAME, K) and
    args.matched_seeds (A, B), both None without --size-matched."""
    if args.size_matched is None:
        if args.matched_seeds is not None:
            raise SystemExit("study.py: --matched-seeds gives the candidates of --size-matched; give --size-matched "
                             "NAME:K too, or leave --matched-seeds out")
        return
    text = args.size_matched
    name, _, k = text.rpartition(":")
    if not name:
        raise SystemExit(f"study.py: --size-matched {text!r}: write NAME:K, e.g. plain:2 (K random cells per "
                         "searched cell of configuration NAME)")
    if name not in names:
        raise SystemExit(f"study.py: --size-matched {text}: {name!r} is not a configuration of this study "
                         f"({', '.join(names)}); give one of them")
    if not re.fullmatch(r"[0-9]+", k.strip()) or int(k) < 1:
        raise SystemExit(f"study.py: --size-matched {text}: K must be a whole number, 1 or more (random cells "
                         f"per cell of {name})")
    args.size_matched = (name, int(k))
    first = args.random_seed + args.random_cells
    if args.matched_seeds is None:
        args.matched_seeds = (first, first + 999)
    else:
        found = re.fullmatch(r"\s*(-?[0-9]+)\s*:\s*(-?[0-9]+)\s*", args.matched_seeds)
        if not found:
            raise SystemExit(f"study.py: --matched-seeds {args.matched_seeds!r}: write A:B, the first and the last "
                             f"candidate seed, e.g. {first}:{first + 999}")
        args.matched_seeds = (int(found[1]), int(found[2]))
    a, b = args.matched_seeds
    if a < 0 or a > b:
        raise SystemExit(f"study.py: --matched-seeds {a}:{b}: give 0 <= A <= B")
    need = args.seeds * args.size_matched[1]
    if b - a + 1 < need:
        raise SystemExit(f"study.py: --matched-seeds {a}:{b} holds {b - a + 1} seeds, fewer than the {need} cells to "
                         f"take (--seeds {args.seeds} x {args.size_matched[1]}); give a wider range")
    last = first - 1
    if a <= last and b >= args.random_seed:
        raise SystemExit(f"study.py: --matched-seeds {a}:{b} overlaps the random cells' seeds {args.random_seed} to "
                         f"{last}: a matched cell must not be one of them; give seeds outside them, e.g. "
                         f"{first}:{first + 999}")


def check_flags(where, text, forbidden):
    try:
        tokens = shlex.split(text)
    except ValueError as error:
        raise SystemExit(f"study.py: {where}: {error}")
    for token in tokens:
        if token.split("=", 1)[0] in forbidden:
            raise SystemExit(f"study.py: {where} gives {token.split('=', 1)[0]}: the study sets "
                             f"{', '.join(forbidden)} itself; drop it")
    return tokens


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="study.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Searched cells against random cells and DARTS_V2, every cell retrained alike; "
                    "statistics into OUT/study.md, study.json, study.svg.",
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--out", required=True, help="the study folder (created; continued when it exists)")
    p.add_argument("--config", action="append", default=[], metavar="NAME=FLAGS",
                   help="a search configuration: its name and its darts-dist search flags (repeatable); "
                        "default: plain=\"\"")
    p.add_argument("--configs-file", metavar="FILE",
                   help="configurations in JSON: {\"NAME\": \"FLAGS\", ...} or [{\"name\": ..., \"args\": ...}, ...]")
    p.add_argument("--derive", action="append", default=[], metavar="NAME=BASE:FLAGS",
                   help="a derived configuration: the searches of configuration BASE with other genotype "
                        "derivation flags (darts-dist genotype SEARCH FLAGS); only its retrains run (repeatable)")
    p.add_argument("--seeds", type=int, default=3, metavar="S",
                   help="searches per configuration, --seed BASE ... BASE+S-1 (3)")
    p.add_argument("--search-seed", type=int, default=1, metavar="BASE",
                   help="the first search seed (1); a confirmatory study takes seeds no earlier study used")
    p.add_argument("--random-cells", type=int, default=3, metavar="R",
                   help="random cells, darts-dist genotype --random --seed BASE ... BASE+R-1 (3)")
    p.add_argument("--random-seed", type=int, default=1, metavar="BASE",
                   help="the first random cell's seed (1)")
    p.add_argument("--darts-v2-retrains", type=int, default=1, metavar="T",
                   help="retrains of DARTS_V2, retrain seeds BASE ... BASE+T-1 (1; 0 leaves it out)")
    p.add_argument("--retrain-seeds", type=int, default=1, metavar="T",
                   help="retrains of every searched and random cell, seeds BASE ... BASE+T-1 (1)")
    p.add_argument("--retrain-seed", type=int, default=0, metavar="BASE",
                   help="the first retrain seed, the same for every cell (0, darts-dist's default)")
    p.add_argument("--reuse-random", metavar="STUDY",
                   help="take the random cells' finished retrains from another study folder instead of running them "
                        "again: that study must have the same retrain flags and seeds (checked), its random cells must "
                        "be the ones this darts-dist draws (checked), and its darts-dist must retrain bit-identically "
                        "to this one (not checked: compare a 1-epoch retrain of one cell); cells it lacks are retrained here")
    p.add_argument("--size-matched", metavar="NAME:K",
                   help="a second control group, once every search and retrain has finished: for each cell of "
                        "configuration NAME, largest first, the K random cells not taken before that are nearest to it "
                        "in parameters (counted with darts-dist retrain --dry-run, cached in OUT/matched.json), retrained "
                        "like the random cells; can be added to a finished study")
    p.add_argument("--matched-seeds", metavar="A:B",
                   help="the candidates of --size-matched: darts-dist genotype --random --seed A ... B, none of them a "
                        "random cell's seed (default: the 1000 seeds after the random cells', BASE+R ... BASE+R+999)")
    p.add_argument("--search-args", default="", metavar="FLAGS", help="flags for every search, before the configuration's")
    p.add_argument("--retrain-args", default="", metavar="FLAGS", help="flags for every retrain")
    p.add_argument("--launcher", default=DEFAULT_LAUNCHER,
                   help=f"the command before darts-dist for searches and retrains (\"{DEFAULT_LAUNCHER}\"; "
                        "e.g. \"srun -n 32\", \"mpirun -np 16 --hostfile H\", \"\" for one process)")
    p.add_argument("--binary", default=os.path.join(REPO, ".build/release/darts-dist"),
                   help="the darts-dist binary (.build/release/darts-dist)")
    p.add_argument("--other-build", action="store_true",
                   help="continue a study with a darts-dist build other than the one that ran its jobs (another "
                        "build may train differently: study.json and study.md list every build used)")
    p.add_argument("--dry-run", action="store_true",
                   help="print every command it would run; run and write nothing. For a new study, also have "
                        "darts-dist check each configuration's flags and the retrain flags with its own --dry-run "
                        "(one process each); exit status 1 when it refuses any")
    p.add_argument("--report", action="store_true",
                   help="run nothing: write study.md, study.json and study.svg from the runs finished so far "
                        "(marked partial), e.g. while the study runs")
    # A value that starts with "-" ("--search-args --second-order") is taken as the flag's value.
    joined, i = [], 0
    while i < len(argv):
        if argv[i] in ("--search-args", "--retrain-args", "--launcher", "--config", "--derive",
                       "--matched-seeds") and i + 1 < len(argv):
            joined.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    args = p.parse_args(joined)
    for flag in ("seeds", "random_cells", "darts_v2_retrains", "retrain_seeds", "search_seed", "random_seed",
                 "retrain_seed"):
        if getattr(args, flag) < 0:
            raise SystemExit(f"study.py: --{flag.replace('_', '-')} must be 0 or more")
    for flag in ("seeds", "random_cells", "retrain_seeds"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"study.py: --{flag.replace('_', '-')} must be 1 or more: the study compares searched "
                             "cells with random cells, each retrained at least once")
    args.configs = load_configs(args)
    args.derived = [parse_derived(d, args.configs) for d in args.derive]
    names = [n for n, _ in args.configs]
    for name, _, _ in args.derived:
        if not NAME_PATTERN.match(name) or name in RESERVED or name in names:
            raise SystemExit(f"study.py: configuration name {name!r}: use letters, digits, '_', '.', '-', "
                             f"once each, not {', '.join(sorted(RESERVED))}")
        names.append(name)
    parse_size_matched(args, names)
    check_flags("--search-args", args.search_args, ("--seed", "--out", "--resume"))
    check_flags("--retrain-args", args.retrain_args, ("--seed", "--out", "--resume", "--genotype"))
    args.out = os.path.abspath(args.out)
    args.binary = os.path.abspath(args.binary)
    if args.reuse_random is not None:
        args.reuse_random = os.path.abspath(args.reuse_random)
        check_reuse(args)
    return args


def check_reuse(args):
    """Refuses --reuse-random STUDY unless STUDY is another study folder whose retrains were run like
    this study's: the same retrain flags, the same first retrain seed, at least as many retrain seeds."""
    source = args.reuse_random
    if source == args.out:
        raise SystemExit(f"study.py: --reuse-random {source} is this study's own folder; give another study's --out")
    try:
        with open(os.path.join(source, "study.json")) as f:
            theirs = json.load(f).get("arguments") or {}
    except (OSError, ValueError) as error:
        raise SystemExit(f"study.py: --reuse-random {source}: cannot read its study.json ({error}); "
                         "give the --out folder of a study made by study.py")
    ours = {"retrainArgs": shlex.split(args.retrain_args), "retrainSeed": args.retrain_seed}
    diffs = [f"{k}: {json.dumps(theirs.get(k))} there, {json.dumps(v)} here" for k, v in ours.items() if theirs.get(k) != v]
    if theirs.get("retrainSeeds", 1) < args.retrain_seeds:
        diffs.append(f"retrainSeeds: {theirs.get('retrainSeeds', 1)} there, {args.retrain_seeds} here")
    if diffs:
        raise SystemExit(f"study.py: --reuse-random {source}: its retrains are not this study's ({'; '.join(diffs)}); "
                         "give a study retrained with the same --retrain-args and seeds, or leave --reuse-random out")


def study_arguments(args):
    """What defines the study's results (compared when a study folder is continued; derived
    configurations and size-matched cells may be added)."""
    arguments = {
        "configs": [[name, shlex.split(flags)] for name, flags in args.configs],
        "seeds": args.seeds,
        "randomCells": args.random_cells,
        "dartsV2Retrains": args.darts_v2_retrains,
        "retrainSeeds": args.retrain_seeds,
        "retrainSeed": args.retrain_seed,
        "searchArgs": shlex.split(args.search_args),
        "retrainArgs": shlex.split(args.retrain_args),
    }
    # Recorded only when not the first seeds, so that a study folder made before these flags
    # existed is continued as it was.
    if args.search_seed != 1:
        arguments["searchSeed"] = args.search_seed
    if args.random_seed != 1:
        arguments["randomSeed"] = args.random_seed
    if args.reuse_random is not None:
        arguments["reuseRandom"] = args.reuse_random
    if args.derived:
        arguments["derived"] = [[name, base, shlex.split(flags)] for name, base, flags in args.derived]
    if args.size_matched is not None:
        arguments["sizeMatched"] = list(args.size_matched)
        arguments["matchedSeeds"] = list(args.matched_seeds)
    return arguments


# ---------------------------------------------------------------------------------------------
# The plan: every run of the study


class Run:
    def __init__(self, kind, folder, start, resume, cell=None, seed=None, group=None):
        self.kind = kind            # "search" or "retrain"
        self.folder = folder
        self.start = start          # argv after the launcher for a new run
        self.resume = resume        # argv after the launcher to continue it
        self.cell = cell
        self.seed = seed
        self.group = group


def plan(args):
    out, binary = args.out, args.binary
    search_common = shlex.split(args.search_args)
    searches, cells, retrains = [], [], []
    for name, flags in args.configs:
        for i in range(args.search_seed, args.search_seed + args.seeds):
            folder = os.path.join(out, "searches", name, f"seed_{i}")
            searches.append(Run("search", folder,
                                [binary, "search"] + search_common + shlex.split(flags) + ["--seed", str(i), "--out", folder],
                                [binary, "search", "--resume", folder], group=name, seed=i))
            cells.append({"name": f"{name}-seed_{i}", "group": name, "source": folder,
                          "retrainSeeds": args.retrain_seeds})
            for derived, base, derive_flags in args.derived:
                if base == name:
                    cells.append({"name": f"{derived}-seed_{i}", "group": derived, "source": folder,
                                  "command": [binary, "genotype", folder] + shlex.split(derive_flags) + ["--format", "json"],
                                  "retrainSeeds": args.retrain_seeds})
    for i in range(args.random_seed, args.random_seed + args.random_cells):
        cells.append({"name": f"random_{i}", "group": "random", "command": random_command(args, i),
                      "retrainSeeds": args.retrain_seeds})
    if args.darts_v2_retrains > 0:
        cells.append({"name": "darts_v2", "group": "DARTS_V2", "command": [binary, "genotype", "DARTS_V2", "--format", "json"],
                      "retrainSeeds": args.darts_v2_retrains})
    for cell in cells:
        retrains += cell_retrains(args, cell)
    return searches, cells, retrains


def random_command(args, seed):
    return [args.binary, "genotype", "--random", "--seed", str(seed), "--format", "json"]


def cell_retrains(args, cell):
    """Sets the cell's file (OUT/cells/NAME.json); its retrains, one per retrain seed."""
    cell["file"] = os.path.join(args.out, "cells", cell["name"] + ".json")
    runs = []
    for j in range(args.retrain_seed, args.retrain_seed + cell["retrainSeeds"]):
        folder = os.path.join(args.out, "retrains", cell["name"], f"seed_{j}")
        runs.append(Run("retrain", folder,
                        [args.binary, "retrain", "--genotype", cell["file"]] + shlex.split(args.retrain_args)
                        + ["--seed", str(j), "--out", folder],
                        [args.binary, "retrain", "--resume", folder], cell=cell, seed=j, group=cell["group"]))
    return runs


def matched_plan(args, chosen):
    """The size-matched cells and their retrains, in the order of the matching: `chosen` maps each
    searched cell to its matched seeds (matched.json's "chosen"; nothing when None)."""
    cells = [{"name": f"matched_{s}", "group": "matched", "command": random_command(args, s),
              "retrainSeeds": args.retrain_seeds} for seeds in (chosen or {}).values() for s in seeds]
    return cells, [run for cell in cells for run in cell_retrains(args, cell)]


def schedule(args, searches, cells, retrains):
    """The order of the work, in rounds: round k runs every configuration's search with seed k and
    retrains its cell, then random cell k, then DARTS_V2's k-th retrain (k counts from the first
    seed: round 1 is --search-seed and --random-seed). A study stopped early (or
    reported with --report) thus holds comparable groups, not all searches and no retrain."""
    steps = []
    rounds = max(args.seeds, args.random_cells, args.darts_v2_retrains)
    made = set()

    def cell_steps(cell, runs):
        if id(cell) not in made:
            made.add(id(cell))
            steps.append(("cell", cell))
        steps.extend(("run", r) for r in runs)

    for k in range(1, rounds + 1):
        round_searches = [r for r in searches if r.seed == args.search_seed + k - 1]
        steps.extend(("run", r) for r in round_searches)
        for r in round_searches:
            for cell in [c for c in cells if c.get("source") == r.folder]:   # its own cell, then derived ones
                cell_steps(cell, [t for t in retrains if t.cell is cell])
        random_cell = next((c for c in cells if c["name"] == f"random_{args.random_seed + k - 1}"), None)
        if random_cell is not None:
            cell_steps(random_cell, [t for t in retrains if t.cell is random_cell])
        v2 = [t for t in retrains if t.group == "DARTS_V2"]
        if k <= len(v2):
            cell_steps(v2[k - 1].cell, [v2[k - 1]])
    return steps


# ---------------------------------------------------------------------------------------------
# Size-matched random cells


def match_by_size(targets, counts, per_cell):
    """{searched cell: [seeds]}: for each searched cell in turn, by parameters descending (ties by
    name), the `per_cell` candidates not taken before with the smallest |parameters - its
    parameters| (ties: the smaller seed). targets: {cell name: parameters}; counts: {seed:
    parameters}. Needs per_cell x len(targets) candidates."""
    if per_cell * len(targets) > len(counts):
        raise ValueError(f"{len(counts)} candidates for {len(targets)} cells x {per_cell}")
    taken, chosen = set(), {}
    for name in sorted(targets, key=lambda n: (-targets[n], n)):
        free = sorted((s for s in counts if s not in taken), key=lambda s: (abs(counts[s] - targets[name]), s))
        chosen[name] = free[:per_cell]
        taken.update(chosen[name])
    return chosen


def network_parameters(text):
    """The parameters of `darts-dist retrain --dry-run`'s network line (without the auxiliary head,
    the same for every cell); None unless exactly one such line."""
    found = re.findall(r"^network: C=\d+, \d+ cells, (\d+) parameters\b", text, re.M)
    return int(found[0]) if len(found) == 1 else None


def count_command(args, genotype_file):
    """The retrain --dry-run that counts a cell's parameters: the study's retrain flags, one process,
    an --out that is never created."""
    return ([args.binary, "retrain", "--genotype", genotype_file] + shlex.split(args.retrain_args)
            + ["--dry-run", "--out", os.path.join(args.out, "matched", "dry-run-out")])


def load_matched(args):
    """OUT/matched.json, or None (also without --size-matched); refused when it was made for
    another --size-matched or --matched-seeds."""
    path = os.path.join(args.out, "matched.json")
    if args.size_matched is None or not os.path.exists(path):
        return None
    matched = load_json(path)
    mine = [args.size_matched[0], args.size_matched[1], list(args.matched_seeds)]
    if [matched.get("to"), matched.get("perCell"), matched.get("seeds")] != mine:
        seeds = matched.get("seeds") or [None, None]
        raise SystemExit(f"study.py: {path} holds the parameter counts of --size-matched {matched.get('to')}:"
                         f"{matched.get('perCell')} --matched-seeds {seeds[0]}:{seeds[1]}; give those flags, or remove "
                         "matched.json (and the matched cells' retrains) to count and match again")
    return matched


def size_match(args, runner, cells):
    """The size-matched cells ({searched cell: [seeds]}, matched.json's "chosen") after counting the
    parameters of the searched cells of NAME and of every candidate (those in OUT/matched.json
    are not counted again; it is saved every 25 candidates). Under --dry-run, counts nothing: says
    what it would do and returns None unless matched.json has chosen them already."""
    name, per_cell = args.size_matched
    a, b = args.matched_seeds
    targets = [c for c in cells if c["group"] == name]
    matched = load_matched(args)
    if args.dry_run:
        if matched is not None and "chosen" in matched:
            return matched["chosen"]
        counted = matched or {"counts": {}, "searched": {}}
        before = f"; {len(counted['counts'])} counted before" if counted["counts"] else ""
        runner.say(f"would count the parameters of the {b - a + 1} candidate random cells (seeds {a} to {b}{before}) "
                   f"and of {name}'s {len(targets)} cells with retrain --dry-run, one process each (cached in "
                   f"{os.path.join(args.out, 'matched.json')}), then retrain {per_cell} cell(s) per cell of {name}, "
                   "the nearest in parameters")
        for cell in targets:
            if cell["name"] not in counted["searched"]:
                print(shlex.join(count_command(args, cell["file"])))
        return None
    path, folder = os.path.join(args.out, "matched.json"), os.path.join(args.out, "matched")
    matched = matched or {"to": name, "perCell": per_cell, "seeds": [a, b], "counts": {}, "searched": {}}
    os.makedirs(folder, exist_ok=True)

    def count(genotype_file):
        argv = count_command(args, genotype_file)
        parameters = network_parameters(runner.execute(argv, "matched", capture=True, quiet=True))
        if parameters is None:
            raise SystemExit(f"study.py: `{shlex.join(argv)}` printed no line \"network: C=..., N cells, P parameters\"; "
                             f"see {os.path.join(args.out, 'logs', 'matched.log')}. Check that {args.binary} has "
                             "retrain --dry-run")
        return parameters

    def save():
        write_atomic(path, json.dumps(matched, indent=2) + "\n")

    todo = [s for s in range(a, b + 1) if str(s) not in matched["counts"]]
    if todo or any(c["name"] not in matched["searched"] for c in targets):
        runner.say(f"size-matched: counting the parameters of {name}'s cells and of {len(todo)} of {b - a + 1} "
                   f"candidate random cells (seeds {a} to {b}) with retrain --dry-run")
    try:
        for cell in targets:
            if cell["name"] not in matched["searched"]:
                matched["searched"][cell["name"]] = count(cell["file"])
        for k, s in enumerate(todo, 1):
            candidate = os.path.join(folder, f"candidate_{s}.json")
            write_atomic(candidate, runner.execute(random_command(args, s), "matched", capture=True, quiet=True))
            try:
                matched["counts"][str(s)] = count(candidate)
            finally:
                os.remove(candidate)
            if k % 25 == 0:
                save()
            if len(matched["counts"]) % 100 == 0:
                runner.say(f"size-matched: {len(matched['counts'])} of {b - a + 1} candidates counted")
    finally:
        save()
    chosen = match_by_size({c["name"]: matched["searched"][c["name"]] for c in targets},
                           {int(s): p for s, p in matched["counts"].items()}, per_cell)
    if matched.get("chosen") != chosen:
        matched["chosen"] = chosen
        save()
    counts = matched["counts"]
    runner.say(f"size-matched: {per_cell} random cell(s) per cell of {name}, by parameters: " + "; ".join(
        f"{cell} {matched['searched'][cell]:,}: " + ", ".join(f"seed {s} {counts[str(s)]:,}" for s in seeds)
        for cell, seeds in chosen.items()))
    return chosen


def state(run):
    """new (no folder), empty (a folder with nothing to resume), done (result.json) or resumable."""
    folder = run.folder
    if not os.path.exists(folder):
        return "new"
    if os.path.exists(os.path.join(folder, "result.json")):
        return "done"
    if os.path.exists(os.path.join(folder, "checkpoint.ckpt")):
        return "resumable"
    if run.kind == "search":
        checkpoints = os.path.join(folder, "checkpoints")
        if os.path.isdir(checkpoints) and any(n.endswith(".ckpt") for n in os.listdir(checkpoints)):
            return "resumable"
    return "empty"


# ---------------------------------------------------------------------------------------------
# Running


class Interrupted(Exception):
    def __init__(self, signum):
        self.signum = signum


class Runner:
    def __init__(self, args):
        self.args = args
        self.launcher = shlex.split(args.launcher)
        self.env = dict(os.environ)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            self.env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        self.child = None
        self.signum = None

    def install_handlers(self):
        def handler(signum, frame):
            if self.signum is None:
                self.signum = signum
                if self.child is not None and self.child.poll() is None:
                    # The child runs in its own session: it gets exactly one SIGTERM from here
                    # (darts-dist then prints what its folder keeps and ends; mpirun/srun forward it).
                    try:
                        self.child.send_signal(signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            if self.child is None:
                raise Interrupted(signum)
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def say(self, text):
        print(f"study: {text}", flush=True)

    def execute(self, argv, log_name, capture=False, quiet=False):
        """Runs argv (as a child in its own session), its output shown and appended to OUT/logs/LOG;
        with capture, returns its standard output instead of showing it; with quiet, the command
        is not shown either (only logged)."""
        shown = shlex.join(argv)
        if self.args.dry_run:
            print(shown, flush=True)
            return ""
        if self.signum is not None:
            raise Interrupted(self.signum)
        logs = os.path.join(self.args.out, "logs")
        os.makedirs(logs, exist_ok=True)
        if not quiet:
            self.say(shown)
        with open(os.path.join(logs, log_name + ".log"), "ab") as log:
            log.write(f"\n$ {shown}\n".encode())
            log.flush()
            # Signals wait while the child starts, so that the handler always finds it (and the
            # child starts with them unblocked, as from a terminal).
            stops = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stops)
            try:
                self.child = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE if capture else subprocess.STDOUT, env=self.env,
                                              start_new_session=True,
                                              preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, stops))
            except OSError as error:
                raise SystemExit(f"study.py: cannot start `{shown}`: {error}; check --launcher and --binary")
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
            captured = []
            try:
                stream = self.child.stdout
                for line in iter(stream.readline, b""):
                    log.write(line)
                    log.flush()
                    if capture:
                        captured.append(line)
                    else:
                        sys.stdout.buffer.write(line)
                        sys.stdout.flush()
                if capture:
                    err = self.child.stderr.read()
                    log.write(err)
                    sys.stderr.buffer.write(err)
                code = self.wait_child()
            finally:
                if self.child is not None and self.child.poll() is None:
                    self.child.kill()
                    self.child.wait()
                self.child = None
        if self.signum is not None:
            raise Interrupted(self.signum)
        if code != 0:
            raise SystemExit(f"study.py: `{shown}` failed (exit status {code}); see {os.path.join(logs, log_name + '.log')}. "
                             "Fix the cause and run the same study command again: finished runs are kept.")
        return b"".join(captured).decode()

    def wait_child(self):
        while True:
            try:
                return self.child.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                continue

    def run(self, run):
        rel = os.path.relpath(run.folder, self.args.out)
        log_name = rel.replace(os.sep, "-")
        st = state(run)
        if st == "done":
            self.say(f"{rel}: finished before, kept")
            return
        if st == "resumable":
            if not self.args.dry_run:
                self.say(f"{rel}: continuing from its checkpoint")
            self.execute(self.launcher + run.resume, log_name)
            return
        if st == "new" and self.reuse(run):
            return
        if st == "empty":
            aside = self.aside_path(rel)
            if self.args.dry_run:
                print(f"mv {shlex.quote(run.folder)} {shlex.quote(aside)}   # no checkpoint yet: started again")
            else:
                os.makedirs(os.path.dirname(aside), exist_ok=True)
                os.rename(run.folder, aside)
                self.say(f"{rel}: stopped before its first checkpoint; moved to {os.path.relpath(aside, self.args.out)}, "
                         "starting it again")
        self.execute(self.launcher + run.start, log_name)

    def aside_path(self, rel):
        base = os.path.join(self.args.out, "aside", rel)
        k = 1
        while os.path.exists(f"{base}.{k}"):
            k += 1
        return f"{base}.{k}"

    def make_cell(self, cell):
        path = cell["file"]
        if os.path.exists(path):
            return
        if "command" not in cell:
            source = os.path.join(cell["source"], "genotype.json")
            if self.args.dry_run:
                print(f"cp {shlex.quote(source)} {shlex.quote(path)}")
                return
            with open(source) as f:
                text = f.read()
        else:
            if self.args.dry_run:
                print(shlex.join(cell["command"]) + " > " + shlex.quote(path))
                return
            text = self.execute(cell["command"], "cells", capture=True)
        genotype = json.loads(text)  # a genotype in JSON, or an error here rather than in the retrain
        theirs = self.reused_cell(cell)
        if theirs is not None:
            with open(theirs) as f:
                if json.load(f) != genotype:
                    raise SystemExit(f"study.py: {cell['name']} of {self.args.binary} differs from {theirs}: the two "
                                     "darts-dist binaries draw different random cells, so their retrains cannot be "
                                     "reused; leave --reuse-random out")
        write_atomic(path, text if text.endswith("\n") else text + "\n")

    def reused_cell(self, cell):
        """The other study's file of this random cell under --reuse-random, or None."""
        if self.args.reuse_random is None or cell["group"] != "random":
            return None
        path = os.path.join(self.args.reuse_random, "cells", cell["name"] + ".json")
        return path if os.path.exists(path) else None

    def reuse(self, run):
        """Copies the other study's finished retrain of this random cell into run.folder; False when
        there is none (not under --reuse-random, not a random cell, or not finished there)."""
        if run.kind != "retrain" or self.reused_cell(run.cell) is None:
            return False
        rel = os.path.relpath(run.folder, self.args.out)
        source = os.path.join(self.args.reuse_random, rel)
        if not os.path.exists(os.path.join(source, "result.json")):
            return False
        if self.args.dry_run:
            print(f"cp -r {shlex.quote(source)} {shlex.quote(run.folder)}   # finished in --reuse-random's study")
            return True
        tmp = f"{run.folder}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, symlinks=True)
        os.replace(tmp, run.folder)
        self.say(f"{rel}: copied from {source} (finished there)")
        return True


def write_atomic(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def build_of(binary):
    """The darts-dist build: the SHA-256 of the binary's bytes (the same source built again may
    differ; what matters is that every job of a study runs the same executable)."""
    digest = hashlib.sha256()
    with open(binary, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "path": binary, "since": time.strftime("%Y-%m-%d %H:%M:%S")}


UNRECORDED_BUILD = {"sha256": "unrecorded", "path": None, "since": "before study.py recorded builds"}


def reused_builds(args):
    """The builds that ran the jobs of the --reuse-random study, whose finished retrains are copied here."""
    if args.reuse_random is None:
        return []
    return load_json(os.path.join(args.reuse_random, "study.json")).get("builds") or [UNRECORDED_BUILD]


def check_build(args, saved, begun=False):
    """The builds that ran the study's jobs (and the --reuse-random study's), with this one: refused
    when it is another build, unless --other-build. A study begun before builds were recorded ran
    on an unrecorded build. --dry-run refuses as the run would; --report runs nothing and checks nothing."""
    builds = list(saved.get("builds") or ([UNRECORDED_BUILD] if begun else []))
    for b in reused_builds(args):
        if all(b["sha256"] != o["sha256"] for o in builds):
            builds.append(b)
    if args.report or not os.path.exists(args.binary):
        return builds
    mine = build_of(args.binary)
    if any(b["sha256"] == mine["sha256"] for b in builds):
        return builds
    if builds and not args.other_build:
        theirs = "; ".join(f"{b['sha256'][:16]} ({b['path']}, since {b['since']})" for b in builds)
        raise SystemExit(f"study.py: {args.binary} (sha256 {mine['sha256'][:16]}) is not the darts-dist build that "
                         f"ran the jobs of {args.out} or of its --reuse-random study ({theirs}): another build may "
                         "train differently, and every cell of a study is to be retrained alike. Continue with that "
                         "binary (--binary), or start another --out; --other-build continues with this one and lists "
                         "every build in study.json and study.md")
    return builds + [mine]


def open_study(args):
    """Writes OUT/study.json with the arguments and the build, or checks them against an existing
    one (and records another build allowed by --other-build). Derived configurations and
    size-matched cells may be added to a saved study, not changed or dropped."""
    wanted = study_arguments(args)
    path = os.path.join(args.out, "study.json")
    if os.path.exists(path):
        with open(path) as f:
            study = json.load(f)
        saved = study.get("arguments")
        saved_derived, wanted_derived = (saved or {}).get("derived", []), wanted.get("derived", [])
        if saved_derived == wanted_derived[:len(saved_derived)]:
            # Derived configurations added: they change no run of the study, only add retrains.
            saved = dict(saved or {}, derived=wanted_derived) if wanted_derived else saved
        if "sizeMatched" in wanted and not {"sizeMatched", "matchedSeeds"} & set(saved or {}):
            # Size-matched cells added: they too only add retrains (OUT/matched.json keeps their flags).
            saved = dict(saved or {}, sizeMatched=wanted["sizeMatched"], matchedSeeds=wanted["matchedSeeds"])
        if saved != wanted:
            keys = sorted(set(saved or {}) | set(wanted))
            diffs = [f"{k}: {json.dumps((saved or {}).get(k))} in study.json, {json.dumps(wanted.get(k))} now"
                     for k in keys if (saved or {}).get(k) != wanted.get(k)]
            raise SystemExit(f"study.py: {args.out} holds a study with other arguments ({'; '.join(diffs)}); "
                             "run it with its own arguments, or give another --out")
        begun = "builds" not in study and any(os.path.isdir(os.path.join(args.out, d))
                                              for d in ("searches", "cells", "retrains"))
        builds = check_build(args, study, begun)
        if builds != study.get("builds", []) and not args.dry_run:
            write_atomic(path, json.dumps(dict(study, builds=builds), indent=2) + "\n")
        return
    if not args.dry_run:
        if os.path.isdir(args.out) and os.listdir(args.out):
            raise SystemExit(f"study.py: {args.out} is not empty and holds no study.json; give another --out")
        write_atomic(path, json.dumps({"arguments": wanted, "complete": False, "builds": check_build(args, {})},
                                      indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Report


def load_json(path):
    with open(path) as f:
        return json.load(f)


def run_minutes(folder, result):
    """Wall minutes of a run: result.json's seconds, or the sum of the epochs' seconds in
    metrics.jsonl (each epoch's last record) when that is more: a search's result.json counts
    only its last invocation when it was resumed."""
    epochs = {}
    try:
        with open(os.path.join(folder, "metrics.jsonl")) as f:
            for line in f:
                record = json.loads(line)
                if isinstance(record.get("epoch"), int) and isinstance(record.get("seconds"), (int, float)):
                    epochs[record["epoch"]] = record["seconds"]
    except (OSError, ValueError):
        epochs = {}
    return max(result["seconds"], sum(epochs.values())) / 60


def parameter_free(genotype, cell="normal"):
    return sum(1 for op, _ in genotype[cell] if op in PARAMETER_FREE)


def collect(args, searches, cells, retrains, partial=False):
    """Per cell: its genotype facts, search and retrain results; per group: the values compared.
    With partial, only finished runs count, and a cell without a finished retrain is left out."""
    search_results = {r.folder: load_json(os.path.join(r.folder, "result.json")) for r in searches
                      if not partial or state(r) == "done"}
    rows = []
    for cell in cells:
        runs = [r for r in retrains if r.cell is cell and (not partial or state(r) == "done")]
        if partial and (not runs or not os.path.exists(cell["file"])):
            continue
        genotype = load_json(cell["file"])
        results = [load_json(os.path.join(r.folder, "result.json")) for r in runs]
        row = {
            "name": cell["name"], "group": cell["group"],
            "parameterFree": parameter_free(genotype),
            "parameterFreeReduce": parameter_free(genotype, "reduce"),
            "retrainSeeds": [r.seed for r in runs],
            "testTop1": [res["testTop1"] for res in results],
            "parameters": results[0]["parameters"] if results else None,
            "retrainMinutes": [run_minutes(r.folder, res) for r, res in zip(runs, results)],
            "genotype": genotype,
        }
        if "source" in cell:
            s = search_results[cell["source"]]
            row["searchMinutes"] = run_minutes(cell["source"], s)
            row["searchValidationAccuracy"] = s["validationAccuracy"]
        rows.append(row)
    return rows


def versus(group, other):
    """group's mean minus other's, and the one-sided Welch and Mann-Whitney tests of group > other."""
    w = welch_greater(group["testTop1"], other["testTop1"])
    u = mann_whitney_greater(group["testTop1"], other["testTop1"])
    return (group["mean"] - other["mean"] if other["n"] else float("nan"),
            None if w is None else {"t": w[0], "df": w[1], "p": w[2]},
            None if u is None else {"U": u[0], "p": u[1], "method": u[2]})


def summarize(args, rows):
    """Groups in order: each configuration, random, matched (with --size-matched), DARTS_V2. Searched,
    random and matched groups take one value per cell (its mean over retrain seeds); DARTS_V2 takes
    one per retrain (the retrain noise). Every group is compared with random; with --size-matched,
    every searched group with matched too."""
    order = ([name for name, _ in args.configs] + [name for name, _, _ in args.derived] + ["random"]
             + (["matched"] if args.size_matched else []) + (["DARTS_V2"] if args.darts_v2_retrains > 0 else []))
    kinds = {"random": "random", "matched": "matched", "DARTS_V2": "darts_v2"}
    groups = []
    for name in order:
        members = [r for r in rows if r["group"] == name]
        if name == "DARTS_V2":
            values = [v for r in members for v in r["testTop1"]]
        else:
            values = [mean(r["testTop1"]) for r in members]
        pf = [r["parameterFree"] for r in members]
        pf_reduce = [r["parameterFreeReduce"] for r in members]
        g = {
            "name": name,
            "kind": kinds.get(name, "search"),
            "n": len(values), "testTop1": values, "mean": mean(values), "std": sample_std(values),
            "retrains": sum(len(r["testTop1"]) for r in members),
            "parameterFree": pf, "parameterFreeMean": mean(pf),
            "parameterFreeReduce": pf_reduce, "parameterFreeReduceMean": mean(pf_reduce),
            "parameters": [r["parameters"] for r in members],
            "retrainMinutes": mean([m for r in members for m in r["retrainMinutes"]]),
        }
        if g["kind"] == "search":
            g["searchMinutes"] = mean([r["searchMinutes"] for r in members])
        groups.append(g)
    random_group = next(g for g in groups if g["name"] == "random")
    matched_group = next((g for g in groups if g["kind"] == "matched"), None)
    for g in groups:
        if g is not random_group:
            g["diffToRandom"], g["welch"], g["mannWhitney"] = versus(g, random_group)
        if matched_group is not None and g["kind"] == "search":
            g["diffToMatched"], g["welchVsMatched"], g["mannWhitneyVsMatched"] = versus(g, matched_group)

    def sizes(name):
        return [(r["parameters"], mean(r["testTop1"])) for r in rows
                if r["group"] == name and r["testTop1"] and r["parameters"] is not None]
    for g in groups:
        if g["kind"] in ("search", "matched"):
            g["sizeAdjusted"] = size_adjusted_greater(sizes(g["name"]), sizes("random"))
    return groups


def fmt(x, spec=".2f", suffix=""):
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "n/a" if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    return format(x, spec) + suffix


def span(values):
    """Parameter counts as a range: "n/a", "P" or "P to Q"."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    return f"{min(values):,}" if min(values) == max(values) else f"{min(values):,} to {max(values):,}"


def markdown(args, groups, rows, progress=None, builds=(), matched=None, noise=None):
    """study.md; `matched` is OUT/matched.json (None before it exists or without --size-matched); `noise`
    is ``retrain_noise_summary`` of the rows."""
    def top1(g):
        values = g["testTop1"]
        return ("n/a" if not values else f"{fmt(100 * g['mean'])}%" if len(values) == 1
                else f"{fmt(100 * g['mean'])} ± {fmt(100 * g['std'])}%")

    def welch_text(w):
        return "n/a" if w is None else f"{fmt(w['t'])} ({fmt(w['df'], '.1f')}), {fmt(w['p'], '.4f')}"

    def mann_whitney_text(u):
        return "n/a" if u is None else f"{fmt(u['U'], 'g')}, {fmt(u['p'], '.4f')} ({u['method']})"

    lines = ["# Study: searched cells against random cells", ""]
    if progress:
        lines += [f"**Partial report:** {progress}. Every figure below is over the finished runs only.", ""]
    if len(builds) > 1:
        lines += [f"**Its jobs ran on {len(builds)} darts-dist builds** (`--other-build`): "
                  + "; ".join(f"sha256 {b['sha256'][:16]} from {b['since']}" for b in builds)
                  + ". A run's figures depend on the build that ran it.", ""]
    elif builds:
        lines += [f"darts-dist build: sha256 {builds[0]['sha256'][:16]} ({builds[0]['path']}).", ""]
    lines += [
             f"Every cell retrained with `{shlex.join(['retrain'] + shlex.split(args.retrain_args))}`, retrain seed "
             f"{args.retrain_seed}" + (f" to {args.retrain_seed + args.retrain_seeds - 1}" if args.retrain_seeds > 1 else "")
             + (f"; searches with `{args.search_args}` plus each configuration's flags, seeds " if args.search_args.strip()
                else "; searches with each configuration's flags, seeds ") +
             f"{args.search_seed} to {args.search_seed + args.seeds - 1}; random cells of seeds {args.random_seed} to "
             f"{args.random_seed + args.random_cells - 1}"
             + (f"; size-matched random cells (group matched) of seeds {args.matched_seeds[0]} to "
                f"{args.matched_seeds[1]}, {args.size_matched[1]} per cell of {args.size_matched[0]}, the nearest in "
                "parameters (below)" if args.size_matched else "") + ". "
             "Test top-1 after the last retrain epoch; a search's cell is its final genotype.json (chosen on validation "
             "data). " + ("Searched, random and matched groups" if args.size_matched else "Searched and random groups")
             + ": one value per cell (mean over its retrain seeds); DARTS_V2: one "
             "value per retrain. p: one-sided, the group > random (searched, matched and DARTS_V2 alike)."
             + (f" The random cells' retrains finished in {args.reuse_random} were copied from there (`--reuse-random`), "
                "not run again." if args.reuse_random else ""), "",
             "| group | flags | n | test top-1 (mean ± sd) | − random | Welch t (df), p | Mann-Whitney U, p | "
             "param-free ops / normal cell | param-free ops / reduction cell | parameters | search min | retrain min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    flags = {name: f"`{text}`" if text else "" for name, text in args.configs}
    flags.update({name: f"{base}'s searches, `genotype {text}`" for name, base, text in args.derived})
    if args.size_matched:
        flags["matched"] = f"random, nearest in parameters to {args.size_matched[0]}'s cells"
    for g in groups:
        params = sorted(set(p for p in g["parameters"] if p is not None))
        lines.append("| " + " | ".join([
            g["name"],
            flags.get(g["name"], ""),
            str(g["n"]),
            top1(g),
            "" if g["kind"] == "random" else fmt(100 * g["diffToRandom"], "+.2f", " pp"),
            "" if g["kind"] == "random" else welch_text(g["welch"]),
            "" if g["kind"] == "random" else mann_whitney_text(g["mannWhitney"]),
            f"{fmt(g['parameterFreeMean'])} ({', '.join(map(str, g['parameterFree']))})",
            f"{fmt(g['parameterFreeReduceMean'])} ({', '.join(map(str, g['parameterFreeReduce']))})",
            ", ".join(f"{p:,}" for p in params) if len(params) <= 3 else f"{min(params):,} to {max(params):,}",
            fmt(g.get("searchMinutes"), ".1f") if g["kind"] == "search" else "",
            fmt(g["retrainMinutes"], ".1f"),
        ]) + " |")
    lines += size_adjusted_lines(groups, noise, args.retrain_seeds)
    if args.size_matched:
        lines += ["", "## Against size-matched random cells", "", matched_sentence(args, matched)]
        if matched is not None and "chosen" in matched:
            lines += ["", "| group | n | test top-1 | − matched | Welch t (df), p | Mann-Whitney U, p | parameters (range) |",
                      "|---|---|---|---|---|---|---|"]
            for g in groups:
                if g["kind"] in ("search", "matched"):
                    versus_matched = g["kind"] == "search"
                    lines.append("| " + " | ".join([
                        g["name"], str(g["n"]), top1(g),
                        fmt(100 * g["diffToMatched"], "+.2f", " pp") if versus_matched else "",
                        welch_text(g["welchVsMatched"]) if versus_matched else "",
                        mann_whitney_text(g["mannWhitneyVsMatched"]) if versus_matched else "",
                        span(g["parameters"]),
                    ]) + " |")
    lines += ["", "## Cells", "",
              "| cell | group | search val acc | param-free ops (normal, reduction) | parameters | test top-1 per retrain seed |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['group']} | "
                     + (fmt(100 * r["searchValidationAccuracy"], ".2f", "%") if "searchValidationAccuracy" in r else "")
                     + f" | {r['parameterFree']}, {r['parameterFreeReduce']} | {r['parameters']:,} | "
                     + ", ".join(f"{s}: {100 * v:.2f}%" for s, v in zip(r["retrainSeeds"], r["testTop1"])) + " |")
    correlations = cell_correlations(rows)
    if correlations:
        lines += ["", f"Across all {len(rows)} cells (one value per cell, the mean over its retrain seeds), Spearman's "
                  "rank correlation of test top-1 with: " + "; ".join(
                      f"{c['feature']} {fmt(c['rho'], '+.2f')} (p {fmt(c['p'], '.4f')})" for c in correlations)
                  + " (two-sided p, t approximation)."]
    lines += ["", "Picture: study.svg (one dot per retrain, each group's mean as a bar).", ""]
    return "\n".join(lines)


def size_adjusted_lines(groups, noise, retrain_seeds=1):
    """study.md's "Adjusted for size": each searched (and matched) group against the random cells
    by analysis of covariance (``size_adjusted_greater``), and the retrain noise (``retrain_noise_summary``,
    None when no cell has several retrain seeds); [] when no group could be fitted."""
    fitted = [g for g in groups if g.get("sizeAdjusted")]
    if not fitted:
        return []
    lines = ["", "## Adjusted for size", "",
             "Searched cells are often larger than random ones, and larger cells tend to retrain better. Each group "
             "against the random cells by analysis of covariance: a straight line in parameters common to the "
             "group and the random cells, with the group's own offset, fitted by least squares over one value per "
             "cell. The offset is the group's lead over random cells of the same size; p is one-sided (offset > 0), "
             "from t with n − 3 degrees of freedom (n: the group's and the random cells). The fit assumes test top-1 "
             "is a straight line in parameters, and extrapolates it where a group's cells lie outside the random "
             "cells' range; `--size-matched` is the direct test. The matched group is random cells too: its offset "
             "checks the line, not a search. Every row uses the same random cells, so their p-values are not "
             "independent.", "",
             "| group | n | − random at equal parameters | t (df), p | slope (pp per 1,000 parameters) | residual sd |",
             "|---|---|---|---|---|---|"]
    for g in fitted:
        a = g["sizeAdjusted"]
        lines.append(f"| {g['name']} | {a['df'] + 3} | {fmt(100 * a['effect'], '+.2f', ' pp')} | "
                     f"{fmt(a['t'])} ({a['df']}), {fmt(a['p'], '.4f')} | {fmt(100 * a['slope'], '.4f')} | "
                     f"{fmt(100 * a['residualStd'])} pp |")
    if noise:
        low, high = std_interval(noise["std"], noise["df"])
        std, df, cells = noise["std"], noise["df"], noise["cells"]
        lines += ["", f"Retrain noise, the spread of one cell's test top-1 over retrain seeds: {fmt(100 * std)} pp "
                  f"(standard deviation pooled over {cells} cell{'s' if cells > 1 else ''} retrained with several "
                  f"seeds, {df} degree{'s' if df > 1 else ''} of freedom; 95% interval {fmt(100 * low)} to "
                  f"{fmt(100 * high)} pp). The residual variance above includes the noise's variance"
                  + (f" divided by {retrain_seeds} (a cell's value is the mean of its {retrain_seeds} retrains)"
                     if retrain_seeds > 1 else "")
                  + ": only the variance beyond it can come from the cells' operations."]
    return lines


def matched_sentence(args, matched):
    """How the matched cells were chosen, and their parameters against those of NAME's cells."""
    name, k = args.size_matched
    a, b = args.matched_seeds
    if matched is None or "chosen" not in matched:
        return (f"The matched group ({k} random cell(s) per cell of {name}, the nearest in parameters among seeds {a} "
                f"to {b}) is chosen once every search and retrain has finished: not chosen yet.")
    mine = [matched["counts"][str(s)] for seeds in matched["chosen"].values() for s in seeds]
    return (f"The matched group: for each cell of {name}, largest first, the {k} random cell(s) (`genotype --random`, "
            f"seeds {a} to {b}) not taken before whose parameters are nearest to its own (ties: the smaller seed), "
            "all counted by `retrain --dry-run` with the retrain flags above (without the auxiliary head). Their "
            f"parameters: {span(mine)}; {name}'s cells': {span(matched['searched'].values())}. "
            "p: one-sided, group > matched.")


def cell_correlations(rows):
    """Spearman's rho of each cell's mean test top-1 with its parameter-free operations per cell
    type and its parameters, over every cell; [] when fewer than 3 cells."""
    rows = [r for r in rows if r["testTop1"] and r["parameters"] is not None]
    top1 = [mean(r["testTop1"]) for r in rows]
    out = []
    for feature, key in [("param-free ops in the normal cell", "parameterFree"),
                         ("param-free ops in the reduction cell", "parameterFreeReduce"),
                         ("parameters", "parameters")]:
        s = spearman([r[key] for r in rows], top1)
        if s is not None:
            out.append({"feature": feature, "rho": s[0], "p": s[1], "n": len(rows)})
    return out


def svg(groups, rows):
    width, height = 120 + 140 * len(groups), 420
    left, right, top, bottom = 70, 20, 30, 70
    points = []
    for gi, g in enumerate(groups):
        members = [r for r in rows if r["group"] == g["name"]]
        jitter = random.Random(g["name"])
        for r in members:
            for v in r["testTop1"]:
                points.append((gi, 100 * v, jitter.uniform(-30, 30), r["name"]))
    values = [p[1] for p in points] or [0.0, 100.0]
    lo, hi = min(values), max(values)
    span = max(hi - lo, 1.0)
    step = [s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if span / s <= 8][0]
    lo, hi = math.floor((lo - 0.1 * span) / step) * step, math.ceil((hi + 0.1 * span) / step) * step

    def y(v):
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    def x(gi):
        return left + (gi + 0.5) * (width - left - right) / len(groups)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14">Test top-1 after retraining</text>']
    v = lo
    while v <= hi + 1e-9:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.{1 if step < 1 else 0}f}</text>')
        v += step
    out.append(f'<text x="16" y="{(top + height - bottom) / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(top + height - bottom) / 2:.1f})">test top-1 (%)</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="black"/>')
    colors = {"random": "#888888", "darts_v2": "#d62728", "search": "#1f77b4", "matched": "#2ca02c"}
    for gi, g in enumerate(groups):
        color = colors[g["kind"]]
        for pgi, value, dx, name in points:
            if pgi == gi:
                out.append(f'<circle cx="{x(gi) + dx:.1f}" cy="{y(value):.1f}" r="4" fill="{color}" fill-opacity="0.75">'
                           f'<title>{name}: {value:.2f}%</title></circle>')
        if g["n"]:
            m = 100 * g["mean"]
            out.append(f'<line x1="{x(gi) - 42:.1f}" x2="{x(gi) + 42:.1f}" y1="{y(m):.1f}" y2="{y(m):.1f}" '
                       f'stroke="black" stroke-width="2"><title>{g["name"]} mean {m:.2f}%</title></line>')
        out.append(f'<text x="{x(gi):.1f}" y="{height - bottom + 18}" text-anchor="middle">{g["name"]}</text>')
        out.append(f'<text x="{x(gi):.1f}" y="{height - bottom + 34}" text-anchor="middle" fill="#555">'
                   f'n={g["n"]}, mean {fmt(100 * g["mean"])}%</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def report(args, searches, cells, retrains, partial=False):
    """study.md, study.json and study.svg; with partial, of the finished runs (and the size-matched
    cells once chosen)."""
    matched = load_matched(args)
    matched_cells, matched_retrains = matched_plan(args, (matched or {}).get("chosen"))
    cells, retrains = cells + matched_cells, retrains + matched_retrains
    rows = collect(args, searches, cells, retrains, partial)
    groups = summarize(args, rows)
    progress = None
    done = sum(state(r) == "done" for r in searches), sum(state(r) == "done" for r in retrains)
    pending = args.size_matched is not None and "chosen" not in (matched or {})
    if partial and (done != (len(searches), len(retrains)) or pending):   # --report of a finished study is the whole report
        progress = (f"{done[0]} of {len(searches)} searches and {done[1]} of {len(retrains)} retrains finished"
                    + ("; the size-matched cells are not chosen yet" if pending else ""))
    builds = load_json(os.path.join(args.out, "study.json")).get("builds", [])
    noise = retrain_noise_summary(rows)
    text = markdown(args, groups, rows, progress, builds, matched, noise)
    write_atomic(os.path.join(args.out, "study.md"), text)
    write_atomic(os.path.join(args.out, "study.svg"), svg(groups, rows))

    def clean(o):
        if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o
    write_atomic(os.path.join(args.out, "study.json"),
                 json.dumps(clean({"arguments": study_arguments(args), "complete": progress is None,
                                   "progress": progress, "builds": builds, "groups": groups, "cells": rows,
                                   "correlations": cell_correlations(rows),
                                   "retrainNoise": noise,
                                   **({"matched": matched_summary(matched)} if args.size_matched else {})}),
                            indent=2) + "\n")
    print(text, end="", flush=True)


def retrain_noise_summary(rows):
    """study.json's "retrainNoise": {"std", "df", "cells"} (test top-1 as a fraction), or None."""
    noise = pooled_retrain_noise([r["testTop1"] for r in rows])
    return None if noise is None else {"std": noise[0], "df": noise[1], "cells": noise[2]}


def matched_summary(matched):
    """study.json's "matched": the searched cells' parameters, the chosen seeds and their parameters."""
    if matched is None or "chosen" not in matched:
        return None
    seeds = [s for chosen in matched["chosen"].values() for s in chosen]
    return {"to": matched["to"], "perCell": matched["perCell"], "seeds": matched["seeds"],
            "searched": matched["searched"], "chosen": matched["chosen"],
            "counts": {str(s): matched["counts"][str(s)] for s in seeds}}


def check_with_dry_runs(args, runner, searches, retrains):
    """--dry-run of a new study: darts-dist's own --dry-run of each configuration's first search and
    of one retrain (DARTS_V2 with the retrain flags), one process each without the launcher, into
    a temporary --out, so that a flag darts-dist refuses is found before the study waits in a
    queue. Returns the number of refused commands."""
    if not os.access(args.binary, os.X_OK):
        print(f"study: flags not checked: {args.binary} is not an executable (build it first)", flush=True)
        return 0
    checks, seen = [], set()
    for run in searches:
        if run.group not in seen:
            seen.add(run.group)
            checks.append((f"configuration {run.group}", run.start))
    if retrains:
        argv = list(retrains[0].start)
        argv[argv.index("--genotype") + 1] = "DARTS_V2"
        checks.append(("the retrains' flags", argv))
    refused = 0
    with tempfile.TemporaryDirectory(prefix="study-flag-check-") as tmp:
        for i, (what, start) in enumerate(checks):
            # Every job's command ends with --out FOLDER.
            argv = start[:-1] + [os.path.join(tmp, f"run_{i}"), "--dry-run"]
            try:
                done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=runner.env,
                                      text=True, errors="replace", timeout=900)
            except OSError as error:
                print(f"study.py: {what}: cannot start `{shlex.join(argv)}`: {error}", file=sys.stderr, flush=True)
                refused += 1
                continue
            except subprocess.TimeoutExpired:
                print(f"study.py: {what}: `{shlex.join(argv)}` did not finish within 900 s", file=sys.stderr, flush=True)
                refused += 1
                continue
            if done.returncode == 0:
                continue
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            said = [line for line in lines if line.lower().startswith("error")] or lines[-3:]
            if args.launcher.strip() and any("needs about" in line and "available" in line for line in said):
                # One process holds the whole global batch; under the launcher each rank holds its share.
                print(f"study: note: {what}: one process would not fit in this machine's memory; under the launcher "
                      f"each rank takes its share of the batch, which this check cannot see:\n  " + "\n  ".join(said),
                      flush=True)
                continue
            print(f"study.py: {what} refused by darts-dist (`{shlex.join(argv)}`, exit status {done.returncode}):\n  "
                  + "\n  ".join(said), file=sys.stderr, flush=True)
            refused += 1
    names = ", ".join(what for what, _ in checks)
    if refused == 0:
        unchecked = " (derived configurations' genotype flags are checked when their searches have run)" if args.derived else ""
        print(f"study: checked by darts-dist's own --dry-run (one process each, without the launcher): {names}{unchecked}",
              flush=True)
    return refused


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.dry_run and not os.access(args.binary, os.X_OK):
        raise SystemExit(f"study.py: {args.binary} is not an executable; build it (swift build -c release) or give --binary")
    if args.report and not os.path.exists(os.path.join(args.out, "study.json")):
        raise SystemExit(f"study.py: {args.out} holds no study.json: nothing to report; start the study first")
    open_study(args)
    load_matched(args)   # a matched.json of other --size-matched or --matched-seeds: refused before anything runs
    searches, cells, retrains = plan(args)
    runner = Runner(args)
    runner.install_handlers()
    started = time.time()
    if args.report:
        report(args, searches, cells, retrains, partial=True)
        return 0
    try:
        for kind, item in schedule(args, searches, cells, retrains):
            if kind == "cell":
                runner.make_cell(item)
            else:
                runner.run(item)
        if args.size_matched:
            # The second phase: every search and retrain has run; count, match, retrain the matched cells.
            matched_cells, matched_retrains = matched_plan(args, size_match(args, runner, cells))
            for cell in matched_cells:
                runner.make_cell(cell)
                for run in matched_retrains:
                    if run.cell is cell:
                        runner.run(run)
        if args.dry_run and not os.path.exists(os.path.join(args.out, "study.json")):
            # A new study (nothing run yet): darts-dist checks the flags, as its jobs will.
            if check_with_dry_runs(args, runner, searches, retrains):
                return 1
    except Interrupted as stop:
        name = signal.Signals(stop.signum).name
        print(f"study: interrupted ({name}); {args.out} keeps every finished run and checkpoint: "
              f"run the same command again to continue", file=sys.stderr, flush=True)
        return 128 + stop.signum
    if args.dry_run:
        return 0
    runner.say(f"all runs finished ({(time.time() - started) / 60:.1f} min in this invocation)")
    report(args, searches, cells, retrains)
    return 0


if __name__ == "__main__":
    sys.exit(main())
