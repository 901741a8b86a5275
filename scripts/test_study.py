#!/usr/bin/env python3
"""Tests of scripts/study.py: its statistics, its size matching, and its bookkeeping (runs kept,
resumed, moved aside, arguments checked) with a fake darts-dist, so they take seconds and need no
Swift build.

    python3 scripts/test_study.py
"""

import hashlib
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import study  # noqa: E402

STUDY = os.path.join(HERE, "study.py")

# A stand-in for darts-dist: genotype, search and retrain write what the real ones write (the
# files study.py reads). Every call is appended to $FAKE_LOG. The job numbered $FAKE_INTERRUPT_AT
# (searches and retrains counted from 1 in $FAKE_COUNTER) writes a checkpoint (none with
# $FAKE_INTERRUPT_EMPTY) and then sends SIGTERM to the study script, as Ctrl-C or a scheduler would.
# `retrain --dry-run` writes nothing and prints the network line with the cell's parameters (a sum
# of per-operation weights, the same in result.json); the one numbered $FAKE_DRY_INTERRUPT_AT
# (counted in $FAKE_COUNTER-dry) sends SIGTERM to the study script instead. `search --dry-run`
# accepts, and any --dry-run refuses a flag --bogus, as darts-dist refuses an unknown flag, and
# --huge as its memory estimate refuses a network too large for the machine.
FAKE = textwrap.dedent(r'''
    #!/usr/bin/env python3
    import json, os, random, signal, sys, time
    args = sys.argv[1:]
    with open(os.environ["FAKE_LOG"], "a") as f:
        f.write(" ".join(args) + ("  [launched]" if os.environ.get("FAKE_LAUNCHED") else "") + "\n")
    def opt(name):
        return args[args.index(name) + 1] if name in args else None
    OPS = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    def genotype(rng):
        cell = lambda: [[rng.choice(OPS), j] for n in range(4) for j in (0, 1)]
        return {"normal": cell(), "normal_concat": [2, 3, 4, 5], "reduce": cell(), "reduce_concat": [2, 3, 4, 5]}
    def write(path, obj):
        with open(path, "w") as f:
            json.dump(obj, f)
    WEIGHTS = {"sep_conv_3x3": 1500, "sep_conv_5x5": 3000, "dil_conv_3x3": 700, "dil_conv_5x5": 1200}
    def parameters(g):   # pools and skip_connect have none
        return 40000 + sum(WEIGHTS.get(op, 0) for cell in ("normal", "reduce") for op, _ in g[cell])
    def count(counter):
        n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
        with open(counter, "w") as f:
            f.write(str(n))
        return n
    cmd = args[0]
    if "--dry-run" in args and "--bogus" in args:
        sys.exit("Error: Unknown option '--bogus'\nHelp: ...\nUsage: ...\n  See ...")
    if "--dry-run" in args and "--huge" in args:
        sys.exit("error: the search network needs about 60.00 GB of memory per rank, but fake has 20.00 GB available")
    if cmd == "search" and "--dry-run" in args:
        print("dry run: nothing written; the same command without --dry-run starts this search")
        sys.exit(0)
    if cmd == "retrain" and "--dry-run" in args:
        out = opt("--out")
        if os.path.exists(out) or not os.path.isdir(os.path.dirname(out)):
            sys.exit("fake: --out " + out + " exists, or its parent folder does not")
        if opt("--genotype") == "DARTS_V2":
            g = genotype(random.Random(2))
        else:
            with open(opt("--genotype")) as f:
                g = json.load(f)
        if str(count(os.environ["FAKE_COUNTER"] + "-dry")) == os.environ.get("FAKE_DRY_INTERRUPT_AT"):
            os.kill(os.getppid(), signal.SIGTERM)
            time.sleep(30)
            sys.exit("fake: not stopped")
        print("darts-dist retrain: cifar10 3x32x32, 640 train / 100 test images, 1 rank(s) on fake")
        print("genotype = Genotype(...)")
        print(f"network: C=16, 8 cells, {parameters(g)} parameters (+567 auxiliary head, weight 0.4); global batch 64 "
              f"(64 per rank), 10 steps per epoch, 1 epoch; output in {out}")
        print("dry run: nothing written; the same command without --dry-run starts this retrain")
        sys.exit(0)
    if cmd == "genotype":
        if os.path.isdir(args[1]):   # derived again from a search: at most --max-parameter-free pools and skips
            with open(os.path.join(args[1], "genotype.json")) as f:
                g = json.load(f)
            cap, kept = int(opt("--max-parameter-free") or 8), 0
            for edge in g["normal"]:
                if edge[0] in OPS[:3]:
                    kept += 1
                    if kept > cap:
                        edge[0] = "sep_conv_3x3"
            print(json.dumps(g))
            sys.exit(0)
        rng = random.Random(int(opt("--seed")) if "--random" in args else 99)
        print(json.dumps(genotype(rng), indent=2))
        sys.exit(0)
    resume = opt("--resume")
    folder = resume or opt("--out")
    if resume:
        if not os.path.exists(os.path.join(folder, "checkpoint.ckpt")):
            sys.exit("fake: nothing to resume in " + folder)
        if os.path.exists(os.path.join(folder, "result.json")):
            sys.exit("fake: finished already: " + folder)
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
    else:
        if os.path.exists(folder) and os.listdir(folder):
            sys.exit("fake: --out " + folder + " already holds a run")
        os.makedirs(folder, exist_ok=True)
        config = {"args": args}
        if cmd == "retrain":
            with open(opt("--genotype")) as f:
                config["genotype"] = json.load(f)
        write(os.path.join(folder, "config.json"), config)
    n = count(os.environ["FAKE_COUNTER"])
    if str(n) == os.environ.get("FAKE_INTERRUPT_AT"):
        if not os.environ.get("FAKE_INTERRUPT_EMPTY"):
            write(os.path.join(folder, "checkpoint.ckpt"), {})
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(30)
        sys.exit("fake: not stopped")
    if not resume:
        write(os.path.join(folder, "checkpoint.ckpt"), {})
    a = config["args"]
    seed = int(a[a.index("--seed") + 1])
    if cmd == "search":
        g = genotype(random.Random(1000 + seed + 7 * len(a)))
        write(os.path.join(folder, "genotype.json"), g)
        write(os.path.join(folder, "result.json"), {"genotype": g, "validationAccuracy": 0.8 + seed / 100,
                                                    "seconds": 60.0 * seed, "resumed": bool(resume)})
    else:
        g = config["genotype"]
        free = sum(op in ("max_pool_3x3", "avg_pool_3x3", "skip_connect") for op, _ in g["normal"])
        write(os.path.join(folder, "model.bin"), {})
        write(os.path.join(folder, "result.json"), {"testTop1": 0.9 - free / 100 + seed / 1000, "parameters": parameters(g),
                                                    "seconds": 120.0, "resumed": bool(resume)})
''').lstrip()


class Statistics(unittest.TestCase):
    def test_mean_and_sample_std(self):
        self.assertAlmostEqual(study.mean([1, 2, 3, 4]), 2.5)
        self.assertAlmostEqual(study.sample_std([1, 2, 3, 4]), math.sqrt(5 / 3))
        self.assertAlmostEqual(study.sample_std([2, 4, 4, 4, 5, 5, 7, 9]), 2.138089935299395)
        self.assertTrue(math.isnan(study.sample_std([1.0])))
        self.assertTrue(math.isnan(study.mean([])))

    def test_incomplete_beta(self):
        self.assertAlmostEqual(study.betainc(1, 1, 0.3), 0.3, places=12)          # uniform
        self.assertAlmostEqual(study.betainc(2, 3, 0.4), 0.5248, places=12)       # 1 - sum of binomial terms
        self.assertAlmostEqual(study.betainc(0.5, 0.5, 0.5), 0.5, places=12)
        self.assertEqual(study.betainc(3, 4, 0.0), 0.0)
        self.assertEqual(study.betainc(3, 4, 1.0), 1.0)

    def test_t_distribution_tail(self):
        self.assertAlmostEqual(study.t_sf(2.0, 10), 0.0366940, places=6)          # tables: 0.0367
        self.assertAlmostEqual(study.t_sf(1.812461, 10), 0.05, places=6)          # the 95% quantile
        self.assertAlmostEqual(study.t_sf(2.228139, 10), 0.025, places=6)
        self.assertAlmostEqual(study.t_sf(0.0, 7), 0.5, places=12)
        self.assertAlmostEqual(study.t_sf(-2.0, 10), 1 - 0.0366940, places=6)
        for t in (0.3, 1.0, 4.0, 25.0):
            self.assertAlmostEqual(study.t_sf(t, 1), 0.5 - math.atan(t) / math.pi, places=12)    # Cauchy
            self.assertAlmostEqual(study.t_sf(t, 2), 0.5 - t / (2 * math.sqrt(2 + t * t)), places=12)
        self.assertAlmostEqual(study.t_sf(2.5, 3.7), 0.035911011455913, places=10)  # scipy.stats.t.sf
        self.assertAlmostEqual(study.t_sf(1.96, 1e6), study.normal_sf(1.96), places=5)

    def test_welch(self):
        t, df, p = study.welch_greater([1, 2, 3, 4], [0, 1, 1.5])
        self.assertAlmostEqual(t, 2.1320071635561044, places=10)
        self.assertAlmostEqual(df, 4.864321608040202, places=10)
        self.assertAlmostEqual(p, 0.04386243466467248, places=10)   # scipy ttest_ind(equal_var=False, 'greater')
        t2, df2, p2 = study.welch_greater([0, 1, 1.5], [1, 2, 3, 4])
        self.assertAlmostEqual(t2, -t)
        self.assertAlmostEqual(p2, 1 - p, places=12)
        x = [0.912, 0.905, 0.921, 0.917, 0.909]
        y = [0.899, 0.903, 0.887, 0.910]
        t, df, p = study.welch_greater(x, y)
        mx, my = sum(x) / 5, sum(y) / 4
        vx = sum((v - mx) ** 2 for v in x) / 4 / 5
        vy = sum((v - my) ** 2 for v in y) / 3 / 4
        self.assertAlmostEqual(t, (mx - my) / math.sqrt(vx + vy), places=12)
        self.assertAlmostEqual(df, (vx + vy) ** 2 / (vx ** 2 / 4 + vy ** 2 / 3), places=10)
        self.assertAlmostEqual(p, study.t_sf(t, df), places=14)
        self.assertIsNone(study.welch_greater([0.9], [0.8, 0.85]))
        self.assertEqual(study.welch_greater([0.9, 0.9], [0.8, 0.8])[2], 0.0)
        self.assertIsNone(study.welch_greater([0.9, 0.9], [0.9, 0.9]))

    def test_spearman(self):
        rho, p = study.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
        self.assertAlmostEqual(rho, 8 / math.sqrt(95), places=12)   # ranks 1..5 against 1, 2, 3.5, 5, 3.5
        # t = rho sqrt(3 / (1 - rho^2)) and Student's t with 3 degrees of freedom in closed form:
        # P(T > t) = 1/2 - (atan(u) + u / (1 + u^2)) / pi, u = t / sqrt(3).
        u = rho * math.sqrt(3 / (1 - rho * rho)) / math.sqrt(3)
        self.assertAlmostEqual(p, 1 - 2 * (math.atan(u) + u / (1 + u * u)) / math.pi, places=12)
        rho, p = study.spearman([3, 1, 2], [30, 10, 20])
        self.assertEqual((rho, p), (1.0, 0.0))
        self.assertAlmostEqual(study.spearman([1, 2, 3, 4], [4, 3, 2, 1])[0], -1.0)
        self.assertIsNone(study.spearman([1, 2], [1, 2]))
        self.assertIsNone(study.spearman([1, 1, 1], [1, 2, 3]))

    def test_mann_whitney_exact_against_enumeration(self):
        def brute(x, y):
            pooled, n1 = list(x) + list(y), len(x)
            u_of = lambda a, b: sum((p > q) + 0.5 * (p == q) for p in a for q in b)
            u = u_of(x, y)
            splits = list(itertools.combinations(range(len(pooled)), n1))
            hits = sum(u_of([pooled[i] for i in s], [pooled[i] for i in range(len(pooled)) if i not in s]) >= u - 1e-12
                       for s in splits)
            return u, hits / len(splits)
        cases = [([5, 6, 7], [1, 2, 3]), ([0.91, 0.88, 0.93, 0.90], [0.89, 0.87, 0.92]),
                 ([1.5], [0.2, 3.4, 2.2]), ([3.1, 0.4, 2.2, 5.0, 1.1], [2.0, 4.4])]
        for x, y in cases:
            u, p, method = study.mann_whitney_greater(x, y)
            bu, bp = brute(x, y)
            self.assertEqual(method, "exact")
            self.assertEqual(u, bu)
            self.assertAlmostEqual(p, bp, places=12)
        self.assertAlmostEqual(study.mann_whitney_greater([5, 6, 7], [1, 2, 3])[1], 1 / 20)
        self.assertAlmostEqual(study.mann_whitney_greater([5, 6, 7, 8], [1, 2, 3, 4])[1], 1 / 70)
        self.assertAlmostEqual(study.mann_whitney_greater([1, 2, 3, 4], [5, 6, 7, 8])[1], 1.0)

    def test_mann_whitney_normal_approximation(self):
        x, y = [1, 2, 2, 3, 4, 5, 5, 6] * 3, [0, 1, 2, 2, 3, 3, 4] * 3   # ties: the normal approximation
        u, p, method = study.mann_whitney_greater(x, y)
        self.assertEqual(method, "normal")
        self.assertEqual(u, 360.0)
        self.assertAlmostEqual(p, 0.0064119557210715, places=10)   # scipy mannwhitneyu(method='asymptotic')
        big_x, big_y = [i + 0.5 for i in range(20)], list(range(20))  # no ties, n1 + n2 > 30
        u, p, method = study.mann_whitney_greater(big_x, big_y)
        self.assertEqual(method, "normal")
        self.assertAlmostEqual(u, 210.0)
        exact = study._exact_u_counts(20, 20)
        self.assertAlmostEqual(p, sum(exact[210:]) / sum(exact), places=2)
        self.assertIsNone(study.mann_whitney_greater([], [1.0]))


    def test_solve(self):
        x = study.solve([[2, 1], [1, 3]], [3, 5])
        self.assertAlmostEqual(x[0], 0.8, places=12)
        self.assertAlmostEqual(x[1], 1.4, places=12)
        x = study.solve([[0, 1, 0], [1, 0, 0], [0, 0, 4]], [2, 3, 8])    # needs a row exchange
        self.assertEqual([round(v, 12) for v in x], [3, 2, 2])
        self.assertIsNone(study.solve([[1, 2], [2, 4]], [1, 2]))
        self.assertIsNone(study.solve([[0, 0], [0, 0]], [1, 2]))

    def test_size_adjusted_comparison(self):
        group = [(54000, 93.1), (61000, 93.5), (70500, 93.2), (75000, 93.6), (80200, 93.4)]
        random = [(33000, 92.9), (41000, 93.3), (47000, 92.8), (52000, 93.4), (58000, 93.0), (66000, 93.3)]
        a = study.size_adjusted_greater(group, random)
        # numpy.linalg.lstsq on [1, parameters / 1000, in group], scipy.stats.t.sf(t, 8)
        self.assertAlmostEqual(a["effect"], 0.08167213099555563, places=9)
        self.assertAlmostEqual(a["slope"], 0.008672811284208977, places=11)
        self.assertAlmostEqual(a["t"], 0.45017160144496154, places=8)
        self.assertEqual(a["df"], 8)
        self.assertAlmostEqual(a["p"], 0.3322677346191015, places=8)
        self.assertAlmostEqual(a["residualStd"], 0.2218659568127315, places=10)
        # Points on two parallel lines 0.3 apart: the offset exactly, no residual, p = 0; on one line: p = 1/2.
        line = [(p, 90 + 0.01 * p / 1000) for p in (30000, 50000, 65000)]
        exact = study.size_adjusted_greater([(p, 90 + 0.01 * p / 1000 + 0.3) for p in (60000, 70000)], line)
        self.assertAlmostEqual(exact["effect"], 0.3, places=9)
        self.assertAlmostEqual(exact["slope"], 0.01, places=11)
        self.assertAlmostEqual(exact["residualStd"], 0.0, places=9)
        self.assertEqual((exact["t"], exact["p"]), (math.inf, 0.0))
        level = study.size_adjusted_greater([(p, 90 + 0.01 * p / 1000) for p in (60000, 70000)], line)
        self.assertEqual((level["t"], level["p"]), (0.0, 0.5))
        # A group below random cells of its size has a negative offset and p above 1/2.
        below = study.size_adjusted_greater([(p, y - 0.5) for p, y in group], random)
        self.assertLess(below["effect"], 0)
        self.assertGreater(below["p"], 0.5)
        self.assertIsNone(study.size_adjusted_greater([], random))
        self.assertIsNone(study.size_adjusted_greater(group[:1], random[:2]))             # 3 cells
        self.assertIsNone(study.size_adjusted_greater([(70000, 93.0), (70000, 93.2)],  # size says who is who
                                                      [(50000, 92.9), (50000, 93.1)]))

    def test_chi_squared(self):
        # scipy.stats.chi2.ppf and .cdf
        self.assertAlmostEqual(study.chi2_quantile(0.975, 4), 11.143286781877796, places=9)
        self.assertAlmostEqual(study.chi2_quantile(0.025, 4), 0.4844185570879299, places=9)
        self.assertAlmostEqual(study.chi2_quantile(0.95, 28), 41.33713815142739, places=9)
        self.assertAlmostEqual(study.chi2_cdf(5.0, 3), 0.8282028557032665, places=12)
        self.assertAlmostEqual(study.chi2_cdf(2.0, 2), 1 - math.exp(-1.0), places=12)   # exponential
        self.assertEqual(study.chi2_cdf(0.0, 5), 0.0)
        low, high = study.std_interval(0.2, 4)
        self.assertAlmostEqual(low, 0.2 * math.sqrt(4 / 11.143286781877796), places=9)
        self.assertAlmostEqual(high, 0.2 * math.sqrt(4 / 0.4844185570879299), places=9)

    def test_pooled_retrain_noise(self):
        std, df, cells = study.pooled_retrain_noise([[1, 2, 3], [5], [4, 6]])
        self.assertAlmostEqual(std, math.sqrt((2 + 2) / 3), places=12)
        self.assertEqual((df, cells), (3, 2))
        self.assertIsNone(study.pooled_retrain_noise([[1.0], [2.0], []]))


class Minutes(unittest.TestCase):
    def test_resumed_run_counts_every_epoch(self):
        folder = tempfile.mkdtemp(prefix="study-minutes-")
        try:
            with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
                for epoch, seconds in [(0, 120.0), (1, 150.0), (1, 160.0), (2, 130.0)]:   # epoch 1 written twice
                    f.write(json.dumps({"epoch": epoch, "seconds": seconds}) + "\n")
            self.assertAlmostEqual(study.run_minutes(folder, {"seconds": 30.0}), (120 + 160 + 130) / 60)   # resumed
            self.assertAlmostEqual(study.run_minutes(folder, {"seconds": 500.0}), 500 / 60)                # whole run
            os.remove(os.path.join(folder, "metrics.jsonl"))
            self.assertAlmostEqual(study.run_minutes(folder, {"seconds": 30.0}), 0.5)
        finally:
            shutil.rmtree(folder)


class SizeMatching(unittest.TestCase):
    def test_nearest_candidates_largest_cell_first(self):
        # K = 1: "a" (largest) takes 101 (|1| against 98's |2|), then "b" takes 49 (|1| against 52's |2|).
        self.assertEqual(study.match_by_size({"b": 50, "a": 100}, {1: 98, 2: 52, 3: 101, 4: 49}, 1),
                         {"a": [3], "b": [4]})
        self.assertEqual(list(study.match_by_size({"b": 50, "a": 100}, {1: 98, 2: 52, 3: 101, 4: 49}, 1)), ["a", "b"])
        # K = 2: the nearest first; 102 and 98 both 2 away: the smaller seed.
        self.assertEqual(study.match_by_size({"x": 100}, {5: 98, 3: 102, 9: 100, 1: 90}, 2), {"x": [9, 3]})
        self.assertEqual(study.match_by_size({"x": 100}, {5: 98, 3: 102, 9: 100, 1: 90}, 3), {"x": [9, 3, 5]})

    def test_ties_between_cells_go_by_name(self):
        self.assertEqual(study.match_by_size({"b": 100, "a": 100}, {1: 100, 2: 90}, 1), {"a": [1], "b": [2]})

    def test_scarcity_at_the_top(self):
        # Targets above every candidate share the largest ones, the largest target first.
        counts = {1: 50, 2: 60, 3: 70, 4: 5, 5: 15, 6: 21}
        self.assertEqual(study.match_by_size({"z": 11, "y": 900, "x": 1000}, counts, 1), {"x": [3], "y": [2], "z": [5]})
        self.assertEqual(study.match_by_size({"x": 1000, "y": 20}, counts, 2), {"x": [3, 2], "y": [6, 5]})
        with self.assertRaises(ValueError):
            study.match_by_size({"x": 1000, "y": 20}, counts, 4)

    def test_no_candidate_is_taken_twice(self):
        rng = random.Random(5)
        for k in (1, 2, 3):
            targets = {f"cell{i}": rng.randrange(40000, 60000) for i in range(6)}
            counts = {s: rng.choice([40000, 45000, 50000, 55000]) for s in range(100, 130)}   # many ties
            chosen = study.match_by_size(targets, counts, k)
            seeds = [s for picked in chosen.values() for s in picked]
            self.assertEqual(len(seeds), len(set(seeds)))
            self.assertEqual([len(picked) for picked in chosen.values()], [k] * 6)
            self.assertEqual(chosen, study.match_by_size(dict(reversed(list(targets.items()))), counts, k))  # deterministic

    def test_network_line(self):
        self.assertEqual(study.network_parameters("darts-dist retrain: ...\ngenotype = ...\nnetwork: C=8, 5 cells, "
                                                  "73466 parameters; global batch 64 (32 per rank)\n"), 73466)
        self.assertEqual(study.network_parameters("network: C=4, 3 cells, 1234 parameters (+567 auxiliary head, "
                                                  "weight 0.4); global batch 8\n"), 1234)
        self.assertIsNone(study.network_parameters("network: C=4, 3 cells, 1234 weights, 56 alphas\n"))
        self.assertIsNone(study.network_parameters("network: C=4, 3 cells, 1 parameters;\nnetwork: C=4, 3 cells, 2 parameters;\n"))

    def parse(self, *extra):
        return study.parse_args(["--out", "/tmp/nowhere", "--config", "plain=", "--config", "robust=--epochs 3",
                                 "--seeds", "2", "--random-cells", "2"] + list(extra))

    def refused(self, *extra):
        with self.assertRaises(SystemExit) as raised:
            self.parse(*extra)
        return str(raised.exception)

    def test_flags(self):
        args = self.parse("--size-matched", "robust:2")
        self.assertEqual((args.size_matched, args.matched_seeds), (("robust", 2), (3, 1002)))   # after random 1, 2
        self.assertEqual(study.study_arguments(args)["sizeMatched"], ["robust", 2])
        self.assertEqual(study.study_arguments(args)["matchedSeeds"], [3, 1002])
        args = self.parse("--derive", "capped=robust:--max-parameter-free 0", "--size-matched", "capped:1",
                          "--matched-seeds", "0:0", "--random-seed", "5", "--seeds", "1")
        self.assertEqual((args.size_matched, args.matched_seeds), (("capped", 1), (0, 0)))
        plain = self.parse()
        self.assertIsNone(plain.size_matched)
        self.assertNotIn("sizeMatched", study.study_arguments(plain))
        self.assertNotIn("matchedSeeds", study.study_arguments(plain))

    def test_flag_errors(self):
        self.assertIn("--size-matched nosuch:1: 'nosuch' is not a configuration of this study (plain, robust)",
                      self.refused("--size-matched", "nosuch:1"))
        for k in ("0", "x", "-1", "1.5", ""):
            self.assertIn("K must be a whole number, 1 or more", self.refused("--size-matched", f"plain:{k}"))
        self.assertIn("write NAME:K", self.refused("--size-matched", "plain"))
        self.assertIn("give 0 <= A <= B", self.refused("--size-matched", "plain:1", "--matched-seeds", "9:8"))
        self.assertIn("give 0 <= A <= B", self.refused("--size-matched", "plain:1", "--matched-seeds", "-1:8"))
        self.assertIn("write A:B", self.refused("--size-matched", "plain:1", "--matched-seeds", "9"))
        self.assertIn("--matched-seeds 10:12 holds 3 seeds, fewer than the 4 cells to take (--seeds 2 x 2)",
                      self.refused("--size-matched", "plain:2", "--matched-seeds", "10:12"))
        self.assertIn("overlaps the random cells' seeds 1 to 2",
                      self.refused("--size-matched", "plain:1", "--matched-seeds", "2:20"))
        self.assertIn("overlaps the random cells' seeds 5 to 6",
                      self.refused("--size-matched", "plain:1", "--matched-seeds", "0:5", "--random-seed", "5"))
        self.parse("--size-matched", "plain:1", "--matched-seeds", "0:4", "--random-seed", "5")   # below them: fine
        self.assertIn("give --size-matched NAME:K too", self.refused("--matched-seeds", "10:20"))
        self.assertIn("configuration name 'matched'", self.refused("--config", "matched=--epochs 2"))


class Bookkeeping(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="study-test-")
        self.fake = os.path.join(self.dir, "fake-darts-dist")
        with open(self.fake, "w") as f:
            f.write(FAKE)
        os.chmod(self.fake, 0o755)
        self.log = os.path.join(self.dir, "calls.log")
        self.out = os.path.join(self.dir, "study")
        self.env = dict(os.environ, FAKE_LOG=self.log, FAKE_COUNTER=os.path.join(self.dir, "counter"))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def args(self, seeds=2, search_args="--subset 640 --epochs 1", retrain_args="--preset fast --epochs 1"):
        """The study's arguments; search_args=None leaves --search-args out."""
        common = ["--out", self.out, "--binary", self.fake, "--launcher", "env FAKE_LAUNCHED=1",
                  "--config", "plain=", "--config", "robust=--epochs 3",
                  "--seeds", str(seeds), "--random-cells", "2", "--darts-v2-retrains", "2",
                  "--retrain-args", retrain_args]
        return common + ([] if search_args is None else ["--search-args", search_args])

    def study(self, *extra, seeds=2, search_args="--subset 640 --epochs 1", retrain_args="--preset fast --epochs 1",
              env=None, timeout=120):
        return subprocess.run([sys.executable, STUDY] + self.args(seeds, search_args, retrain_args) + list(extra),
                              env=dict(self.env, **(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)

    def calls(self):
        with open(self.log) as f:
            return f.read().splitlines()

    def test_interrupted_run_resumes_and_finished_runs_are_kept(self):
        first = self.study(env={"FAKE_INTERRUPT_AT": "2"})     # the first search of "robust"
        self.assertEqual(first.returncode, 128 + 15, first.stderr)
        self.assertIn("run the same command again", first.stderr)
        robust1 = os.path.join(self.out, "searches", "robust", "seed_1")
        self.assertTrue(os.path.exists(os.path.join(robust1, "checkpoint.ckpt")))
        self.assertFalse(os.path.exists(os.path.join(robust1, "result.json")))
        self.assertEqual(len(self.calls()), 2)

        second = self.study()
        self.assertEqual(second.returncode, 0, second.stderr)
        calls = self.calls()[2:]
        self.assertIn(f"search --resume {robust1}  [launched]", calls)
        self.assertFalse(any("searches/plain/seed_1" in c for c in calls), calls)   # finished: not run again
        # 4 searches, 2 random + 1 DARTS_V2 genotypes, 4 + 2 cells x 1 seed + DARTS_V2 x 2 seeds = 8 retrains
        self.assertEqual(sum(c.startswith("search") for c in self.calls()), 5)
        self.assertEqual(sum(c.startswith("retrain") for c in calls), 8)
        self.assertEqual(sum(c.startswith("genotype") for c in calls), 3)
        self.assertTrue(all(c.endswith("[launched]") for c in calls if not c.startswith("genotype")))
        self.assertTrue(all("--seed 0 " in c for c in calls if c.startswith("retrain --genotype") and "darts_v2" not in c))
        self.assertIn("--seed 1 --out", [c for c in calls if "darts_v2" in c and "retrain" in c][1])
        with open(os.path.join(robust1, "result.json")) as f:
            self.assertTrue(json.load(f)["resumed"])

        with open(os.path.join(self.out, "study.json")) as f:
            result = json.load(f)
        self.assertTrue(result["complete"])
        groups = {g["name"]: g for g in result["groups"]}
        self.assertEqual(list(groups), ["plain", "robust", "random", "DARTS_V2"])
        self.assertEqual([groups[n]["n"] for n in groups], [2, 2, 2, 2])
        for g in groups.values():
            self.assertAlmostEqual(g["mean"], sum(g["testTop1"]) / g["n"])
        self.assertIsNotNone(groups["plain"]["welch"])
        self.assertIsNotNone(groups["plain"]["mannWhitney"])
        self.assertAlmostEqual(groups["plain"]["diffToRandom"], groups["plain"]["mean"] - groups["random"]["mean"])
        cells = {c["name"]: c for c in result["cells"]}
        for name, c in cells.items():   # the fake's accuracy: 0.9 - parameter-free ops / 100 + seed / 1000
            for seed, top1 in zip(c["retrainSeeds"], c["testTop1"]):
                self.assertAlmostEqual(top1, 0.9 - c["parameterFree"] / 100 + seed / 1000)
        self.assertEqual(groups["plain"]["searchMinutes"], 1.5)
        # The fake's accuracy falls with the normal cell's parameter-free ops: a rank correlation of -1.
        correlations = {c["feature"]: c for c in result["correlations"]}
        if len({c["parameterFree"] for c in cells.values()}) > 1:
            self.assertLess(correlations["param-free ops in the normal cell"]["rho"], 0)
        with open(os.path.join(self.out, "study.md")) as f:
            md = f.read()
        self.assertIn("| plain |", md)
        self.assertIn("| DARTS_V2 |", md)
        # Size-adjusted: searched groups only; shown when it could be fitted.
        self.assertIn("sizeAdjusted", groups["plain"])
        self.assertNotIn("sizeAdjusted", groups["DARTS_V2"])
        self.assertEqual(groups["plain"]["sizeAdjusted"] is not None, "## Adjusted for size" in md)
        # DARTS_V2's two retrain seeds give the retrain noise: 0.9 - free / 100 + seed / 1000.
        self.assertAlmostEqual(result["retrainNoise"]["std"], 0.001 / math.sqrt(2), places=12)
        self.assertEqual((result["retrainNoise"]["df"], result["retrainNoise"]["cells"]), (1, 1))
        self.assertIn("Retrain noise, the spread of one cell's test top-1 over retrain seeds: 0.07 pp", md)
        self.assertIn("pooled over 1 cell retrained with several seeds, 1 degree of freedom; 95% interval", md)
        svg = ET.parse(os.path.join(self.out, "study.svg")).getroot()
        circles = [e for e in svg.iter() if e.tag.endswith("circle")]
        self.assertEqual(len(circles), 8)   # one per retrain

        # Run again: nothing runs, the report is written again.
        third = self.study()
        self.assertEqual(third.returncode, 0, third.stderr)
        self.assertEqual(len(self.calls()), 2 + len(calls))
        self.assertIn("finished before, kept", third.stdout)

    def test_a_derived_configuration_added_to_a_finished_study_runs_only_its_retrains(self):
        first = self.study()
        self.assertEqual(first.returncode, 0, first.stderr)
        before = len(self.calls())
        derive = ["--derive", "capped=robust:--max-parameter-free 0"]
        second = self.study(*derive)
        self.assertEqual(second.returncode, 0, second.stderr)
        new = self.calls()[before:]
        robust = [os.path.join(self.out, "searches", "robust", f"seed_{i}") for i in (1, 2)]
        self.assertEqual([c for c in new if c.startswith("genotype")],
                         [f"genotype {folder} --max-parameter-free 0 --format json" for folder in robust])
        self.assertEqual(sum(c.startswith("retrain") for c in new), 2)
        self.assertFalse(any(c.startswith("search") for c in new))
        with open(os.path.join(self.out, "study.json")) as f:
            result = json.load(f)
        self.assertEqual([g["name"] for g in result["groups"]], ["plain", "robust", "capped", "random", "DARTS_V2"])
        self.assertEqual(result["arguments"]["derived"], [["capped", "robust", ["--max-parameter-free", "0"]]])
        groups = {g["name"]: g for g in result["groups"]}
        self.assertEqual(groups["capped"]["parameterFree"], [0, 0])
        self.assertEqual(groups["capped"]["searchMinutes"], groups["robust"]["searchMinutes"])
        self.assertIsNotNone(groups["capped"]["welch"])
        with open(os.path.join(self.out, "study.md")) as f:
            self.assertIn("| capped | robust's searches, `genotype --max-parameter-free 0` |", f.read())
        # Again with it: nothing runs. Without it, or with another one in its place: refused.
        self.assertEqual(self.study(*derive).returncode, 0)
        self.assertEqual(len(self.calls()), before + len(new))
        dropped = self.study()
        self.assertNotEqual(dropped.returncode, 0)
        self.assertIn("holds a study with other arguments (derived:", dropped.stderr)
        other = self.study("--derive", "capped=robust:--max-parameter-free 1")
        self.assertNotEqual(other.returncode, 0)
        unknown = self.study("--derive", "x=nosuch:--max-parameter-free 1")
        self.assertIn("'nosuch' is not a search configuration of this study (plain, robust)", unknown.stderr)
        clash = self.study("--derive", "plain=robust:--max-parameter-free 1")
        self.assertIn("configuration name 'plain'", clash.stderr)
        malformed = self.study("--derive", "x=robust")
        self.assertIn("write NAME=BASE:FLAGS", malformed.stderr)

    def load(self, name):
        with open(os.path.join(self.out, name)) as f:
            return json.load(f) if name.endswith(".json") else f.read()

    def test_size_matched_cells_added_to_a_finished_study(self):
        self.assertEqual(self.study().returncode, 0)
        before = len(self.calls())
        matched = ["--size-matched", "robust:2", "--matched-seeds", "10:21"]
        # Killed during the counts: the 6th retrain --dry-run, after robust's 2 cells and candidates 10 to 12.
        first = self.study(*matched, env={"FAKE_DRY_INTERRUPT_AT": "6"})
        self.assertEqual(first.returncode, 128 + 15, first.stderr)
        counting = self.calls()[before:]
        self.assertEqual(len(counting), 10)            # 6 dry runs, 4 candidates drawn: no search, no retrain
        self.assertTrue(all(c.startswith("genotype --random") or " --dry-run --out " in c for c in counting), counting)
        self.assertFalse(any("[launched]" in c for c in counting))
        saved = self.load("matched.json")
        self.assertEqual((saved["to"], saved["perCell"], saved["seeds"]), ("robust", 2, [10, 21]))
        self.assertEqual(list(saved["counts"]), ["10", "11", "12"])
        self.assertEqual(sorted(saved["searched"]), ["robust-seed_1", "robust-seed_2"])
        self.assertNotIn("chosen", saved)
        self.assertEqual(os.listdir(os.path.join(self.out, "matched")), [])   # the candidate's file removed
        # Meanwhile: other flags are refused (matched.json holds its own), a report says what is missing.
        ran = len(self.calls())
        other = self.study("--size-matched", "robust:1", "--matched-seeds", "10:21")
        self.assertNotEqual(other.returncode, 0)
        self.assertIn("holds the parameter counts of --size-matched robust:2 --matched-seeds 10:21", other.stderr)
        partial = self.study(*matched, "--report")
        self.assertEqual(partial.returncode, 0, partial.stderr)
        self.assertEqual(self.load("study.json")["progress"],
                         "4 of 4 searches and 8 of 8 retrains finished; the size-matched cells are not chosen yet")
        self.assertIn("not chosen yet.", self.load("study.md"))
        self.assertEqual(len(self.calls()), ran)

        second = self.study(*matched)
        self.assertEqual(second.returncode, 0, second.stderr)
        new = self.calls()[before:]
        for seed in range(10, 22):   # every candidate counted once, but 13 (killed) twice
            dry = [c for c in new if f"--genotype {self.out}/matched/candidate_{seed}.json" in c]
            self.assertEqual(len(dry), 2 if seed == 13 else 1, seed)
            self.assertIn(f"--preset fast --epochs 1 --dry-run --out {self.out}/matched/dry-run-out", dry[0])
        self.assertFalse(any(c.startswith("search") for c in new))
        retrained = [c for c in new if c.startswith("retrain") and "--dry-run" not in c]
        self.assertEqual(len(retrained), 4)
        self.assertTrue(all("/cells/matched_" in c and "--seed 0 --out" in c and c.endswith("[launched]") for c in retrained))
        saved = self.load("matched.json")
        self.assertEqual(len(saved["counts"]), 12)
        chosen = study.match_by_size(saved["searched"], {int(s): p for s, p in saved["counts"].items()}, 2)
        self.assertEqual(saved["chosen"], chosen)
        self.assertEqual(list(chosen), sorted(saved["searched"], key=lambda n: (-saved["searched"][n], n)))
        seeds = [s for picked in chosen.values() for s in picked]
        self.assertEqual([c.split("/cells/matched_")[1].split(".json")[0] for c in retrained], [str(s) for s in seeds])
        # The counts are the retrains' parameters (the fake's result.json agrees with its dry run).
        for cell, parameters in saved["searched"].items():
            self.assertEqual(self.load(f"retrains/{cell}/seed_0/result.json")["parameters"], parameters)
        for s in seeds:
            self.assertEqual(self.load(f"retrains/matched_{s}/seed_0/result.json")["parameters"], saved["counts"][str(s)])
            self.assertEqual(self.load(f"cells/matched_{s}.json"),
                             self.load(f"retrains/matched_{s}/seed_0/config.json")["genotype"])
        self.assertFalse(os.path.exists(os.path.join(self.out, "matched", "dry-run-out")))

        result = self.load("study.json")
        self.assertTrue(result["complete"])
        self.assertEqual(result["arguments"]["sizeMatched"], ["robust", 2])
        self.assertEqual(result["arguments"]["matchedSeeds"], [10, 21])
        self.assertEqual(result["matched"]["chosen"], chosen)
        self.assertEqual(result["matched"]["searched"], saved["searched"])
        groups = {g["name"]: g for g in result["groups"]}
        self.assertEqual(list(groups), ["plain", "robust", "random", "matched", "DARTS_V2"])
        self.assertEqual((groups["matched"]["kind"], groups["matched"]["n"]), ("matched", 4))
        self.assertIsNotNone(groups["matched"]["welch"])              # against random, as every group
        for name in ("plain", "robust"):
            g = groups[name]
            self.assertAlmostEqual(g["diffToMatched"], g["mean"] - groups["matched"]["mean"])
            self.assertIsNotNone(g["welchVsMatched"])
            self.assertIsNotNone(g["mannWhitneyVsMatched"])
        self.assertNotIn("diffToMatched", groups["random"])
        self.assertNotIn("diffToMatched", groups["matched"])
        md = self.load("study.md")
        section = md.split("## Against size-matched random cells")[1].split("## Cells")[0]
        self.assertIn("for each cell of robust, largest first, the 2 random cell(s)", section)
        self.assertIn("seeds 10 to 21", section)
        self.assertEqual([l.split(" | ")[0] for l in section.splitlines() if l.startswith("| ") and "---" not in l][1:],
                         ["| plain", "| robust", "| matched"])
        self.assertIn("| matched | 4 |", section)
        self.assertIn("size-matched random cells (group matched) of seeds 10 to 21, 2 per cell of robust", md)
        svg = ET.parse(os.path.join(self.out, "study.svg")).getroot()
        circles = [e for e in svg.iter() if e.tag.endswith("circle")]
        self.assertEqual(len(circles), 12)
        self.assertEqual(sum(c.get("fill") == "#2ca02c" for c in circles), 4)

        # Again: nothing runs. Another K, other seeds, or without it: refused.
        done = len(self.calls())
        self.assertEqual(self.study(*matched).returncode, 0)
        self.assertEqual(len(self.calls()), done)
        for extra in [("--size-matched", "robust:1", "--matched-seeds", "10:21"), ("--size-matched", "robust:2"), ()]:
            refused = self.study(*extra)
            self.assertNotEqual(refused.returncode, 0)
            self.assertIn("holds a study with other arguments (", refused.stderr)
        self.assertIn('sizeMatched: ["robust", 2] in study.json, ["robust", 1] now', self.study(
            "--size-matched", "robust:1", "--matched-seeds", "10:21").stderr)
        self.assertEqual(len(self.calls()), done)

    def test_size_matched_from_the_start(self):
        matched = ["--size-matched", "plain:1", "--matched-seeds", "5:7"]
        dry = self.study(*matched, "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertFalse(os.path.exists(self.out))
        self.assertEqual(len(self.calls()), 3)   # the flag check of a new study, nothing counted
        os.remove(self.log)
        self.assertIn("study: would count the parameters of the 3 candidate random cells (seeds 5 to 7) and of "
                      "plain's 2 cells with retrain --dry-run", dry.stdout)
        self.assertIn(f"{self.fake} retrain --genotype {self.out}/cells/plain-seed_2.json --preset fast --epochs 1 "
                      f"--dry-run --out {self.out}/matched/dry-run-out", dry.stdout.splitlines())
        # 12 jobs before the 2 matched retrains: the second one (job 14) is interrupted. (The whole study
        # and its counts in one invocation: twice the time of the others.)
        first = self.study(*matched, env={"FAKE_INTERRUPT_AT": "14"}, timeout=240)
        self.assertEqual(first.returncode, 128 + 15, first.stderr)
        partial = self.study(*matched, "--report")
        self.assertEqual(partial.returncode, 0, partial.stderr)
        result = self.load("study.json")
        self.assertEqual(result["progress"], "4 of 4 searches and 9 of 10 retrains finished")
        self.assertEqual({g["name"]: g["n"] for g in result["groups"]}["matched"], 1)
        self.assertIn("| matched | 1 |", self.load("study.md"))
        dry = self.study(*matched, "--dry-run")      # chosen already: the matched retrain it would continue
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertEqual(len([l for l in dry.stdout.splitlines() if " retrain --resume " in l and "/matched_" in l]), 1)
        counted = sum("--dry-run" in c for c in self.calls())
        self.assertEqual(counted, 5)
        done = self.study(*matched)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sum("--dry-run" in c for c in self.calls()), counted)   # counted before: not again
        result = self.load("study.json")
        self.assertTrue(result["complete"])
        groups = {g["name"]: g for g in result["groups"]}
        self.assertEqual(groups["matched"]["n"], 2)
        self.assertIn("welchVsMatched", groups["plain"])
        self.assertIn("welchVsMatched", groups["robust"])

    def test_folder_without_checkpoint_is_moved_aside_and_started_again(self):
        first = self.study(env={"FAKE_INTERRUPT_AT": "3", "FAKE_INTERRUPT_EMPTY": "1"})   # the first retrain
        self.assertEqual(first.returncode, 128 + 15, first.stderr)
        started = [c for c in self.calls() if c.startswith("retrain")]
        self.assertEqual(len(started), 1)
        folder = started[0].split("--out ")[1].split()[0]
        self.assertFalse(os.path.exists(os.path.join(folder, "checkpoint.ckpt")))
        second = self.study()
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertIn("moved to aside/", second.stdout)
        rel = os.path.relpath(folder, self.out)
        self.assertTrue(os.path.exists(os.path.join(self.out, "aside", rel + ".1", "config.json")))
        again = [c for c in self.calls() if folder in c]
        self.assertEqual(len(again), 2)
        self.assertNotIn("--resume", again[1])
        self.assertTrue(os.path.exists(os.path.join(folder, "result.json")))

    def test_rounds_and_partial_report(self):
        # Round 1: both searches of seed 1, their retrains, random_1, DARTS_V2's first retrain (jobs 1-6).
        dry = self.study("--dry-run")
        jobs = [l for l in dry.stdout.splitlines() if " search " in l or " retrain " in l]
        self.assertIn("searches/plain/seed_1", jobs[0])
        self.assertIn("searches/robust/seed_1", jobs[1])
        self.assertIn("retrains/plain-seed_1/seed_0", jobs[2])
        self.assertIn("retrains/robust-seed_1/seed_0", jobs[3])
        self.assertIn("retrains/random_1/seed_0", jobs[4])
        self.assertIn("retrains/darts_v2/seed_0", jobs[5])
        self.assertIn("searches/plain/seed_2", jobs[6])

        refused = self.study("--report")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("nothing to report", refused.stderr)
        self.assertEqual(self.study(env={"FAKE_INTERRUPT_AT": "8"}).returncode, 128 + 15)  # the second robust search
        ran = len(self.calls())
        partial = self.study("--report")
        self.assertEqual(partial.returncode, 0, partial.stderr)
        self.assertEqual(len(self.calls()), ran)     # --report runs nothing
        with open(os.path.join(self.out, "study.json")) as f:
            result = json.load(f)
        self.assertFalse(result["complete"])
        self.assertEqual(result["progress"], "3 of 4 searches and 4 of 8 retrains finished")
        self.assertEqual([(g["name"], g["n"]) for g in result["groups"]],
                         [("plain", 1), ("robust", 1), ("random", 1), ("DARTS_V2", 1)])
        with open(os.path.join(self.out, "study.md")) as f:
            text = f.read()
        self.assertIn("**Partial report:** 3 of 4 searches and 4 of 8 retrains finished", text)
        self.assertIn("searches with `--subset 640 --epochs 1` plus each configuration's flags, seeds 1 to 2", text)
        done = self.study()                          # the same study continues after a report
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(os.path.join(self.out, "study.json")) as f:
            self.assertTrue(json.load(f)["complete"])
        again = self.study("--report")               # --report of the finished study: complete, not partial
        self.assertEqual(again.returncode, 0, again.stderr)
        with open(os.path.join(self.out, "study.json")) as f:
            self.assertTrue(json.load(f)["complete"])
        with open(os.path.join(self.out, "study.md")) as f:
            self.assertNotIn("Partial report", f.read())

    def test_other_arguments_are_refused(self):
        self.assertEqual(self.study(env={"FAKE_INTERRUPT_AT": "2"}).returncode, 128 + 15)
        before = self.calls()
        other = self.study(seeds=3)
        self.assertNotEqual(other.returncode, 0)
        self.assertIn("other arguments", other.stderr)
        self.assertIn("seeds: 2 in study.json, 3 now", other.stderr)
        self.assertEqual(self.calls(), before)

    def test_another_build_is_refused_unless_other_build(self):
        self.assertEqual(self.study(env={"FAKE_INTERRUPT_AT": "2"}).returncode, 128 + 15)
        with open(os.path.join(self.out, "study.json")) as f:
            builds = json.load(f)["builds"]
        self.assertEqual(len(builds), 1)
        with open(self.fake, "rb") as f:
            self.assertEqual(builds[0]["sha256"], hashlib.sha256(f.read()).hexdigest())
        args = self.args()
        run = lambda binary, *extra: subprocess.run(
            [sys.executable, STUDY] + [binary if a == self.fake else a for a in args] + list(extra), env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        # Another build (other bytes) is refused while the study still has jobs to run, before it
        # runs any of them; --dry-run says so too.
        rebuilt = os.path.join(self.dir, "rebuilt-darts-dist")
        shutil.copy2(self.fake, rebuilt)
        with open(rebuilt, "a") as f:
            f.write("# rebuilt\n")
        before = self.calls()
        for extra in [(), ("--dry-run",)]:
            other = run(rebuilt, *extra)
            self.assertNotEqual(other.returncode, 0)
            self.assertIn("is not the darts-dist build that ran the jobs of", other.stderr)
            self.assertIn("--other-build", other.stderr)
        self.assertEqual(self.calls(), before)
        self.assertEqual(run(rebuilt, "--report").returncode, 0)   # a report runs nothing: allowed
        # The same build at another path continues (and finishes); the build recorded stays one.
        moved = os.path.join(self.dir, "moved-darts-dist")
        shutil.copy2(self.fake, moved)
        self.assertEqual(run(moved).returncode, 0)
        self.assertGreater(len(self.calls()), len(before))
        with open(os.path.join(self.out, "study.json")) as f:
            self.assertEqual(len(json.load(f)["builds"]), 1)
        # --other-build continues and records it; the report says so.
        self.assertEqual(run(rebuilt, "--other-build").returncode, 0)
        with open(os.path.join(self.out, "study.json")) as f:
            self.assertEqual(len(json.load(f)["builds"]), 2)
        with open(os.path.join(self.out, "study.md")) as f:
            self.assertIn("Its jobs ran on 2 darts-dist builds", f.read())

    def test_a_study_begun_before_builds_were_recorded_is_not_claimed_by_this_build(self):
        self.assertEqual(self.study(env={"FAKE_INTERRUPT_AT": "2"}).returncode, 128 + 15)
        path = os.path.join(self.out, "study.json")
        with open(path) as f:
            saved = json.load(f)
        del saved["builds"]
        with open(path, "w") as f:
            json.dump(saved, f)
        before = self.calls()
        refused = self.study()
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("unrecorded", refused.stderr)
        self.assertEqual(self.calls(), before)
        self.assertEqual(self.study("--other-build").returncode, 0)
        with open(path) as f:
            self.assertEqual([b["sha256"] == "unrecorded" for b in json.load(f)["builds"]], [True, False])

    def test_retrains_reused_from_a_study_of_another_build_are_refused(self):
        earlier = os.path.join(self.dir, "earlier")
        args = self.args()
        args[args.index("--out") + 1] = earlier
        self.assertEqual(subprocess.run([sys.executable, STUDY] + args, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, timeout=120).returncode, 0)
        with open(self.fake, "a") as f:
            f.write("# rebuilt\n")
        before = self.calls()
        refused = self.study("--reuse-random", earlier)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("--reuse-random study", refused.stderr)
        self.assertEqual(self.calls(), before)
        self.assertEqual(self.study("--reuse-random", earlier, "--other-build").returncode, 0)
        with open(os.path.join(self.out, "study.json")) as f:
            self.assertEqual(len(json.load(f)["builds"]), 2)

    def test_dry_run_prints_commands_and_runs_nothing(self):
        dry = self.study("--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertFalse(os.path.exists(self.out))
        # Only darts-dist's own --dry-run ran: each configuration's first search and one retrain.
        checks = self.calls()
        self.assertEqual(len(checks), 3, checks)
        self.assertTrue(all(c.endswith(" --dry-run") and "[launched]" not in c for c in checks), checks)
        self.assertTrue(checks[0].startswith("search --subset 640 --epochs 1 --seed 1 --out "), checks)
        self.assertTrue(checks[1].startswith("search --subset 640 --epochs 1 --epochs 3 --seed 1 --out "), checks)
        self.assertTrue(checks[2].startswith("retrain --genotype DARTS_V2 --preset fast --epochs 1 --seed 0 --out "), checks)
        self.assertIn("study: checked by darts-dist's own --dry-run (one process each, without the launcher): "
                      "configuration plain, configuration robust, the retrains' flags", dry.stdout)
        lines = dry.stdout.splitlines()
        self.assertEqual(sum(" search " in l for l in lines), 4)
        self.assertEqual(sum(" retrain " in l for l in lines), 8)
        self.assertIn(f"env FAKE_LAUNCHED=1 {self.fake} search --subset 640 --epochs 1 --epochs 3 --seed 2 --out "
                      f"{self.out}/searches/robust/seed_2", lines)
        self.assertIn(f"{self.fake} genotype --random --seed 2 --format json > {self.out}/cells/random_2.json", lines)

    def test_dry_run_of_a_new_study_reports_the_flags_darts_dist_refuses(self):
        bad = self.study("--dry-run", search_args="--subset 640 --bogus")
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("study.py: configuration plain refused by darts-dist (`", bad.stderr)
        self.assertIn("study.py: configuration robust refused by darts-dist (`", bad.stderr)
        self.assertIn("Error: Unknown option '--bogus'", bad.stderr)
        self.assertNotIn("the retrains' flags refused", bad.stderr)
        self.assertFalse(os.path.exists(self.out))
        os.remove(self.log)
        bad_retrain = self.study("--dry-run", retrain_args="--preset fast --bogus")
        self.assertEqual(bad_retrain.returncode, 1, bad_retrain.stdout + bad_retrain.stderr)
        self.assertIn("study.py: the retrains' flags refused by darts-dist (`", bad_retrain.stderr)
        self.assertEqual(len(self.calls()), 3)
        # Too large for one process: with a launcher (whose ranks share the batch) only a note.
        os.remove(self.log)
        huge = self.study("--dry-run", search_args="--subset 640 --huge")
        self.assertEqual(huge.returncode, 0, huge.stdout + huge.stderr)
        self.assertIn("study: note: configuration plain: one process would not fit in this machine's memory", huge.stdout)
        alone = subprocess.run([sys.executable, STUDY] + [a if a != "env FAKE_LAUNCHED=1" else "" for a in
                                                          self.args(search_args="--subset 640 --huge")] + ["--dry-run"],
                               env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(alone.returncode, 1, alone.stdout + alone.stderr)
        self.assertIn("needs about 60.00 GB of memory per rank", alone.stderr)
        # Without the binary (not built yet) the commands are still printed; the check is skipped.
        os.remove(self.log)
        args = [a if a != self.fake else os.path.join(self.dir, "not-built") for a in self.args()]
        unbuilt = subprocess.run([sys.executable, STUDY] + args + ["--dry-run"], env=self.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(unbuilt.returncode, 0, unbuilt.stderr)
        self.assertIn("is not an executable (build it first)", unbuilt.stdout)
        self.assertFalse(os.path.exists(self.log))

    def test_seed_bases_for_a_confirmatory_study(self):
        dry = self.study("--dry-run", "--search-seed", "6", "--random-seed", "11", search_args=None)
        self.assertEqual(dry.returncode, 0, dry.stderr)
        jobs = [l for l in dry.stdout.splitlines() if " search " in l or " retrain " in l]
        self.assertIn("--seed 6 --out " + f"{self.out}/searches/plain/seed_6", jobs[0])   # round 1: the first seeds
        self.assertIn("retrains/random_11/seed_0", jobs[4])
        self.assertIn("searches/plain/seed_7", jobs[6])
        self.assertEqual(sorted(l.split("/searches/")[1] for l in jobs if " search " in l),
                         ["plain/seed_6", "plain/seed_7", "robust/seed_6", "robust/seed_7"])
        self.assertIn(f"{self.fake} genotype --random --seed 12 --format json > {self.out}/cells/random_12.json",
                      dry.stdout.splitlines())
        finished = self.study("--search-seed", "6", "--random-seed", "11", search_args=None)
        self.assertEqual(finished.returncode, 0, finished.stderr)
        with open(os.path.join(self.out, "study.md")) as f:
            self.assertIn("; searches with each configuration's flags, seeds 6 to 7; random cells of seeds 11 to 12", f.read())
        moved = self.study("--search-seed", "8", "--random-seed", "11", search_args=None)   # not reseeded
        self.assertNotEqual(moved.returncode, 0)
        negative = self.study("--dry-run", "--random-seed", "-1", search_args=None)
        self.assertIn("--random-seed must be 0 or more", negative.stderr)

    def test_random_cells_reused_from_another_study(self):
        first = self.study()
        self.assertEqual(first.returncode, 0, first.stderr)
        earlier = self.out
        self.out = os.path.join(self.dir, "explore")
        before = len(self.calls())
        # Random cells 2 and 3: the earlier study has finished random_2, not random_3.
        explore = self.study("--reuse-random", earlier, "--random-seed", "2")
        self.assertEqual(explore.returncode, 0, explore.stderr)
        self.assertIn("retrains/random_2/seed_0: copied from " + os.path.join(earlier, "retrains", "random_2", "seed_0"),
                      explore.stdout)
        new = self.calls()[before:]
        retrained = [c for c in new if c.startswith("retrain")]
        self.assertFalse(any("random_2" in c for c in retrained), retrained)
        self.assertEqual(sum("random_3" in c for c in retrained), 1)
        for name in ("random_2",):
            with open(os.path.join(earlier, "retrains", name, "seed_0", "result.json")) as f, \
                    open(os.path.join(self.out, "retrains", name, "seed_0", "result.json")) as g:
                self.assertEqual(json.load(f), json.load(g))
        with open(os.path.join(self.out, "study.json")) as f:
            result = json.load(f)
        self.assertEqual(result["arguments"]["reuseRandom"], earlier)
        self.assertEqual({g["name"]: g["n"] for g in result["groups"]}["random"], 2)
        with open(os.path.join(self.out, "study.md")) as f:
            self.assertIn(f"finished in {earlier} were copied from there (`--reuse-random`)", f.read())
        again = self.study("--reuse-random", earlier, "--random-seed", "2")    # continued: nothing runs
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(len(self.calls()), before + len(new))
        without = self.study("--random-seed", "2")                             # part of the study's arguments
        self.assertIn("reuseRandom:", without.stderr)

    def test_reuse_random_refuses_other_retrains_and_other_cells(self):
        self.assertEqual(self.study().returncode, 0)
        earlier = self.out
        self.out = os.path.join(self.dir, "other")
        other = self.study("--reuse-random", earlier, retrain_args="--preset fast --epochs 2")
        self.assertNotEqual(other.returncode, 0)
        self.assertIn('retrainArgs: ["--preset", "fast", "--epochs", "1"] there, ["--preset", "fast", "--epochs", "2"] here',
                      other.stderr)
        self.assertFalse(os.path.exists(self.out))
        own = self.study("--reuse-random", self.out)
        self.assertIn("is this study's own folder", own.stderr)
        missing = self.study("--reuse-random", os.path.join(self.dir, "nothing"))
        self.assertIn("cannot read its study.json", missing.stderr)
        self.assertFalse(os.path.exists(self.out))
        # A random cell that this darts-dist draws differently: refused before any retrain is copied.
        with open(os.path.join(earlier, "cells", "random_1.json"), "w") as f:
            json.dump({"normal": [], "reduce": []}, f)
        drawn = self.study("--reuse-random", earlier)
        self.assertNotEqual(drawn.returncode, 0)
        self.assertIn("draw different random cells", drawn.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "retrains", "random_1")))

    def test_flag_values_starting_with_a_dash(self):
        dry = subprocess.run([sys.executable, STUDY, "--out", self.out, "--binary", self.fake, "--launcher", "",
                              "--search-args", "--second-order", "--retrain-args", "--epochs", "--seeds", "1",
                              "--random-cells", "1", "--darts-v2-retrains", "0", "--dry-run"],
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn(f"{self.fake} search --second-order --seed 1 --out {self.out}/searches/plain/seed_1", dry.stdout)

    def test_forbidden_flags(self):
        bad = subprocess.run([sys.executable, STUDY, "--out", self.out, "--binary", self.fake, "--search-args", "--seed 3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--seed", bad.stderr)
        self.assertFalse(os.path.exists(self.out))
        for flag in ("--seeds", "--random-cells", "--retrain-seeds"):
            zero = subprocess.run([sys.executable, STUDY, "--out", self.out, "--binary", self.fake, flag, "0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertNotEqual(zero.returncode, 0)
            self.assertIn(f"{flag} must be 1 or more", zero.stderr)
            self.assertFalse(os.path.exists(self.out))


if __name__ == "__main__":
    unittest.main(verbosity=2)
