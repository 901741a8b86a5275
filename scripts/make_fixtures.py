#!/usr/bin/env python3
"""Writes the golden DARTS search fixtures used by Tests/DARTSTests.

Outputs (in Tests/DARTSTests/Fixtures/ unless --out is given):
  search_small.json   manifest: config, tensor table (name, shape, offset, count), labels,
                      scalars, notes, torch version
  search_small.bin    every tensor as float32 little-endian, concatenated in table order
  genotype_small.txt  the genotype derived from genotype.alpha.normal / .reduce

Also runs the self-checks: CIFAR-10 search network size (1,930,618 weights) and the
finite-difference Hessian-vector product against the exact one (double backward, float64).

Usage:  python scripts/make_fixtures.py [--out DIR]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

SEED = 20190501
CONFIG = {
    "input_channels": 1, "height": 8, "width": 8, "C": 4, "layers": 5, "num_classes": 10,
    "steps": 4, "multiplier": 4, "stem_multiplier": 3, "reduction_cells": [1, 3],
    "batch_train": 4, "batch_val": 4, "seed": SEED,
    "bn_eps": 1e-5, "bn_momentum": 0.1,
    "eta": 0.025, "weight_lr": 0.025, "weight_momentum": 0.9, "weight_decay": 3e-4,
    "grad_clip": 5.0, "hessian_r": 0.01,
    "alpha_lr": 3e-4, "alpha_betas": [0.5, 0.999], "alpha_eps": 1e-8, "alpha_weight_decay": 1e-3,
    "loss": "cross entropy, mean over the batch",
    "sgd_initial_momentum": "momentum.<name> (both full steps start with these SGD momentum "
                            "buffers; the second-order virtual step uses them as m)",
    "adam_initial_state": "fresh (step 1, zero moments)",
}

NOTES = [
    "S0 = initial state: weights (default PyTorch init after torch.manual_seed(seed)), alphas "
    "(1e-3 * randn, drawn right after the weights), BN buffers (running_mean 0, running_var 1). "
    "Random draws after the network, in order: input.train, labels_train, input.val, labels_val, "
    "momentum.<name> (0.01 * randn, in weight order).",
    "BatchNorm in train mode normalizes with the biased batch variance and updates "
    "running = 0.9 * running + 0.1 * batch_stat, with the UNBIASED batch variance "
    "(n / (n - 1)) for running_var; eps = 1e-5. Eval mode uses the running statistics.",
    "Forward/backward: from S0, ONE train-mode forward on input.train -> logits.train, "
    "scalars['loss.train'], grad.weight.<name>, grad.alpha.*; the buffers after it are "
    "buffer_after.<name>. Then one eval-mode forward on input.val with those buffers -> "
    "logits.eval. State reset to S0.",
    "First order: from S0, one train-mode forward on input.val -> first_order.alpha_grad.* "
    "= dL_val(w, alpha)/dalpha. State reset to S0.",
    "Second order: from S0 with eta and m = momentum.<name>. Forwards, all in train mode: "
    "(1) input.train at w -> w' = w - eta * (0.9 * m + g + 3e-4 * w) = second_order.w_prime.<name>; "
    "(2) input.val at w' -> second_order.dalpha.*, v; R = 0.01 / ||v|| (one norm over all weights) "
    "= scalars['second_order.R']; (3) input.train at w + R v -> second_order.g_plus.*; "
    "(4) input.train at w - R v -> second_order.g_minus.*; w+-Rv are computed from the ORIGINAL w. "
    "second_order.hvp.* = (g_plus - g_minus) / (2R); second_order.alpha_grad.* = dalpha - eta * hvp. "
    "Afterwards weights and BN buffers are restored bit for bit to S0 (checked).",
    "Architect steps never change the BN running statistics (they are restored after the "
    "architect forwards); only the weight-step forward updates them.",
    "Full steps step_first_order / step_second_order: each starts from S0, SGD (lr eta, momentum "
    "0.9, weight decay 3e-4 added to the gradient inside the step, after clipping) with momentum "
    "buffers preset to momentum.<name>, fresh Adam on alphas (lr 3e-4, betas (0.5, 0.999), eps 1e-8, "
    "weight decay 1e-3 added to the gradient). Order: architect gradient (val batch; second order "
    "also uses the train batch) -> Adam step on alphas -> weight step on input.train with the NEW "
    "alphas: one train-mode forward (the only buffer update: step_*.buffer.<name>), backward, "
    "clip_grad_norm_(weights, 5) (coefficient 5 / (norm + 1e-6), applied only if < 1; "
    "scalars['step_*.grad_norm'] is the norm before clipping), SGD step: "
    "m <- 0.9 m + (g + 3e-4 w); w <- w - eta m.",
    "Genotype: genotype.alpha.normal / .reduce are hand-made (clear winners; some edges have "
    "`none` as the largest weight, one of them kept) and genotype_small.txt is their genotype.",
]


class Writer:
    def __init__(self):
        self.tensors, self.chunks, self.offset = [], [], 0

    def add(self, name, t):
        a = np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy()).astype("<f4")
        self.tensors.append({"name": name, "shape": list(a.shape), "offset": self.offset,
                             "count": int(a.size)})
        self.chunks.append(a.reshape(-1))
        self.offset += int(a.size)

    def add_alphas(self, prefix, pair):
        self.add(prefix + ".normal", pair[0])
        self.add(prefix + ".reduce", pair[1])

    def add_weights(self, prefix, names, values):
        for n, v in zip(names, values):
            self.add(f"{prefix}.{n}", v)

    def binary(self):
        return np.concatenate(self.chunks).astype("<f4").tobytes()


def manifest_text(manifest):
    """JSON with one tensor-table entry per line (compact, diff-friendly)."""
    parts = []
    for key, value in manifest.items():
        if key == "tensors":
            rows = ",\n  ".join(json.dumps(t, separators=(",", ":")) for t in value)
            parts.append(f'"tensors": [\n  {rows}\n ]')
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, indent=1)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def genotype_alphas():
    """Hand-made alphas with clear winners (column order = PRIMITIVES)."""
    g = torch.Generator().manual_seed(7)
    P = {name: k for k, name in enumerate(ref.PRIMITIVES)}

    def build(spec):
        a = 0.02 * torch.randn(14, 8, generator=g)
        for edge, bumps in spec.items():
            for op, value in bumps.items():
                a[edge, P[op]] = value
        return a

    normal = build({
        0: {"none": 3.0, "sep_conv_3x3": 1.5},       # none largest, edge kept
        1: {"sep_conv_5x5": 2.0},
        2: {"skip_connect": 2.0},                      # softmax ranking keeps edges 2 and 4,
        3: {"dil_conv_3x3": 2.2, "sep_conv_3x3": 2.0},  # ranking by raw alpha would keep 3
        4: {"sep_conv_3x3": 1.8},
        5: {"none": 4.0},                              # none largest, edge dropped
        6: {"dil_conv_5x5": 2.5},
        7: {"max_pool_3x3": 1.0},
        8: {"sep_conv_3x3": 1.6},
        9: {"avg_pool_3x3": 1.2},
        10: {"sep_conv_3x3": 2.4},
        11: {"none": 2.5, "dil_conv_3x3": 2.3},
        12: {"skip_connect": 0.8},
        13: {"max_pool_3x3": 2.0},
    })
    reduce = build({
        0: {"max_pool_3x3": 2.0},
        1: {"max_pool_3x3": 2.3},
        2: {"avg_pool_3x3": 1.0},
        3: {"max_pool_3x3": 1.5},
        4: {"skip_connect": 2.6},
        5: {"none": 3.5, "max_pool_3x3": 2.0},
        6: {"sep_conv_5x5": 1.2},
        7: {"dil_conv_5x5": 2.0},
        8: {"avg_pool_3x3": 0.5},
        9: {"max_pool_3x3": 2.2},
        10: {"none": 5.0},
        11: {"skip_connect": 1.0},
        12: {"sep_conv_3x3": 1.7},
        13: {"dil_conv_3x3": 1.3},
    })
    return normal, reduce


def rel_err(a, b):
    a = torch.cat([t.reshape(-1) for t in a]).double()
    b = torch.cat([t.reshape(-1) for t in b]).double()
    return ((a - b).norm() / b.norm()).item()


def same_state(net, state):
    return (all(torch.equal(p, v) for p, v in zip(net.parameters(), state["weights"]))
            and all(torch.equal(b, v) for b, v in zip(net.buffers(), state["buffers"]))
            and all(torch.equal(a, v) for a, v in zip(net.arch_parameters(), state["alphas"])))


def unrolled_exact_alpha_grad(net, x_t, y_t, x_v, y_v, eta, m, mu, wd):
    """d/dalpha L_val(w'(alpha), alpha) with w'(alpha) = w - eta (mu m + dL_train/dw + wd w),
    differentiated exactly through the virtual step (double backward)."""
    names = [n for n, _ in net.named_parameters()]
    g = torch.autograd.grad(net.loss(x_t, y_t), net.weights(), create_graph=True)
    w_prime = {n: p.detach() - eta * (mu * mi + gi + wd * p.detach())
               for n, p, gi, mi in zip(names, net.weights(), g, m)}
    logits = torch.func.functional_call(net, w_prime, (x_v,))
    return [t.detach() for t in torch.autograd.grad(F.cross_entropy(logits, y_v),
                                                    net.arch_parameters())]


def smooth_copy(net):
    """float64 copy with every ReLU replaced by softplus(beta=4) and every max pool by an
    average pool: the same parameters, but a loss without kinks."""
    other = ref.clone_network(net, torch.float64)
    for module in list(other.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.ReLU):
                setattr(module, name, torch.nn.Softplus(beta=4.0))
            elif isinstance(child, torch.nn.MaxPool2d):
                setattr(module, name, torch.nn.AvgPool2d(3, stride=child.stride, padding=1,
                                                         count_include_pad=False))
    return other


def self_check(net32, state, data, momentum, cfg):
    """Float64 checks of the second-order machinery against double backward.

    - finite-difference HVP (g+ - g-)/(2R) vs the exact HVP, for several r, on the network
      itself and on a kink-free (smooth) copy;
    - the full second-order gradient (r small) vs the exact derivative of L_val(w'(alpha), alpha)
      through the virtual step.
    """
    ref.restore(net32, state)
    x_t, y_t, x_v, y_v = data
    x_t, x_v = x_t.double(), x_v.double()
    m = [t.double() for t in momentum]
    eta, mu, wd, r0 = cfg["eta"], cfg["weight_momentum"], cfg["weight_decay"], cfg["hessian_r"]
    out = {}
    for label, net in (("network", ref.clone_network(net32, torch.float64)),
                       ("smooth", smooth_copy(net32))):
        s64 = ref.snapshot(net)
        grad, info = ref.second_order_alpha_grad(net, x_t, y_t, x_v, y_v, eta, m, mu, wd, r0)
        v = info["v"]
        exact = ref.exact_hvp(net, x_t, y_t, v)
        ref.restore(net, s64)
        for r in (1e-2, 1e-3, 1e-4, 1e-6):
            hvp = ref.finite_difference_hvp(net, x_t, y_t, v, r)[0]
            out[f"selfcheck.{label}.hvp_rel_err_r{r:g}_f64"] = rel_err(hvp, exact)
            ref.restore(net, s64)
        unrolled = unrolled_exact_alpha_grad(net, x_t, y_t, x_v, y_v, eta, m, mu, wd)
        ref.restore(net, s64)
        small_r, _ = ref.second_order_alpha_grad(net, x_t, y_t, x_v, y_v, eta, m, mu, wd, 1e-6)
        out[f"selfcheck.{label}.second_order_r1e-06_rel_err_vs_unrolled_f64"] = \
            rel_err(small_r, unrolled)
        if label == "network":
            out["second_order_grad_f64"] = grad
    return out


def write_state_and_gradients(w, scalars, net, s0, data, momentum, arch_prefix, add_arch):
    """Writes the inputs and the initial state S0 (weights, architecture parameters under
    `arch_prefix` through `add_arch`, BN buffers, SGD momentum), then one train-mode forward and
    backward on the train batch: logits.train, scalars['loss.train'], grad.weight and the
    gradients of the architecture parameters (grad.<arch_prefix>). Leaves the BN buffers updated."""
    x_t, y_t, x_v, _ = data
    names = [n for n, _ in net.named_parameters()]
    bnames = [n for n, _ in ref.bn_buffers(net)]
    w.add("input.train", x_t)
    w.add("input.val", x_v)
    w.add_weights("weight", names, s0["weights"])
    add_arch(arch_prefix, s0["alphas"])
    w.add_weights("buffer", bnames, [b for _, b in ref.bn_buffers(net)])
    w.add_weights("momentum", names, momentum)
    n_arch = len(net.arch_parameters())
    net.train()
    logits = net(x_t)
    loss = F.cross_entropy(logits, y_t)
    grads = torch.autograd.grad(loss, net.weights() + net.arch_parameters())
    w.add("logits.train", logits)
    scalars["loss.train"] = loss.item()
    w.add_weights("grad.weight", names, grads[:-n_arch])
    add_arch(f"grad.{arch_prefix}", grads[-n_arch:])


def seeded_network_and_data(cfg, **options):
    """The network of `cfg` (and `options`) after torch.manual_seed(cfg["seed"]), then, in this
    order, the train batch, the val batch and the SGD momentum buffers (0.01 * randn per weight)."""
    torch.manual_seed(cfg["seed"])
    net = ref.Network(cfg["C"], cfg["num_classes"], cfg["layers"],
                      input_channels=cfg["input_channels"], steps=cfg["steps"],
                      multiplier=cfg["multiplier"], stem_multiplier=cfg["stem_multiplier"], **options)
    assert [i for i, c in enumerate(net.cells) if c.reduction] == cfg["reduction_cells"]
    shape = (cfg["input_channels"], cfg["height"], cfg["width"])
    x_t = torch.randn(cfg["batch_train"], *shape)
    y_t = torch.randint(0, cfg["num_classes"], (cfg["batch_train"],))
    x_v = torch.randn(cfg["batch_val"], *shape)
    y_v = torch.randint(0, cfg["num_classes"], (cfg["batch_val"],))
    momentum = [0.01 * torch.randn_like(p) for p in net.parameters()]
    return net, (x_t, y_t, x_v, y_v), momentum


def full_step(net, state, momentum, data, cfg, second_order, arch_regularization=0.0):
    ref.restore(net, state)
    w_opt = ref.make_weight_optimizer(net, cfg["weight_lr"], cfg["weight_momentum"],
                                      cfg["weight_decay"])
    ref.set_momentum_buffers(w_opt, net, momentum)
    a_opt = ref.make_alpha_optimizer(net, cfg["alpha_lr"], tuple(cfg["alpha_betas"]),
                                     cfg["alpha_weight_decay"])
    out = ref.search_step(net, w_opt, a_opt, *data, second_order=second_order,
                          grad_clip=cfg["grad_clip"], arch_regularization=arch_regularization)
    result = {
        "alphas": [a.detach().clone() for a in net.arch_parameters()],
        "weights": [p.detach().clone() for p in net.parameters()],
        "buffers": [b.detach().clone() for _, b in ref.bn_buffers(net)],
        "grad_alpha": out["grad_alpha"], "grad_norm": out["grad_norm"].item(),
    }
    ref.restore(net, state)
    return result


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Write the DARTS golden fixtures.")
    parser.add_argument("--out", default=os.path.join(here, "..", "Tests", "DARTSTests",
                                                      "Fixtures"))
    parser.add_argument("--options-only", action="store_true",
                        help="write only search_options.json / .bin (partial channels, auxiliary skip)")
    args = parser.parse_args()
    out_dir = os.path.abspath(args.out)
    if args.options_only:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        torch.set_default_dtype(torch.float32)
        write_options_fixture(out_dir)
        return

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    cfg = CONFIG

    size = ref.count_weights(ref.Network(16, 10, 8, input_channels=3))
    print(f"CIFAR-10 search network weights: {size} (expected {ref.CIFAR_SEARCH_WEIGHTS})")
    assert size == ref.CIFAR_SEARCH_WEIGHTS

    net, data, momentum = seeded_network_and_data(cfg)
    x_t, y_t, x_v, y_v = data

    names = [n for n, _ in net.named_parameters()]
    bnames = [n for n, _ in ref.bn_buffers(net)]
    s0 = ref.snapshot(net)
    w = Writer()
    scalars = {}

    # Forward / backward on the train batch, then eval forward on the val batch.
    write_state_and_gradients(w, scalars, net, s0, data, momentum, "alpha", w.add_alphas)
    w.add_weights("buffer_after", bnames, [b for _, b in ref.bn_buffers(net)])
    net.eval()
    with torch.no_grad():
        w.add("logits.eval", net(x_v))
    net.train()
    ref.restore(net, s0)

    # First order architect gradient.
    fo = ref.first_order_alpha_grad(net, x_v, y_v)
    w.add_alphas("first_order.alpha_grad", fo)
    ref.restore(net, s0)

    # Second order architect gradient with its intermediates.
    so, info = ref.second_order_alpha_grad(net, x_t, y_t, x_v, y_v, cfg["eta"], momentum,
                                           cfg["weight_momentum"], cfg["weight_decay"],
                                           cfg["hessian_r"])
    assert same_state(net, s0), "second order step did not restore the state exactly"
    assert any(not torch.equal(a, b) for a, b in zip(info["w_prime"], s0["weights"]))
    assert any(not torch.equal(a, b) for a, b in zip(info["g_plus"], info["g_minus"]))
    w.add_alphas("second_order.alpha_grad", so)
    w.add_alphas("second_order.dalpha", info["dalpha"])
    w.add_alphas("second_order.hvp", info["hvp"])
    w.add_alphas("second_order.g_plus", info["g_plus"])
    w.add_alphas("second_order.g_minus", info["g_minus"])
    w.add_weights("second_order.w_prime", names, info["w_prime"])
    scalars["second_order.R"] = info["R"].item()
    scalars["second_order.v_norm"] = ref.flat_norm(info["v"]).item()
    scalars["second_order.loss_train_at_w"] = info["loss_train"].item()
    scalars["second_order.loss_val_at_w_prime"] = info["loss_val_at_w_prime"].item()

    # Full search steps.
    for key, second in (("step_first_order", False), ("step_second_order", True)):
        r = full_step(net, s0, momentum, data, cfg, second)
        w.add_alphas(f"{key}.alpha", r["alphas"])
        w.add_weights(f"{key}.weight", names, r["weights"])
        w.add_weights(f"{key}.buffer", bnames, r["buffers"])
        scalars[f"{key}.grad_norm"] = r["grad_norm"]
        ref_grad = fo if not second else so
        assert all(torch.equal(a, b) for a, b in zip(r["grad_alpha"], ref_grad))
    assert same_state(net, s0)

    # Genotype.
    ga = genotype_alphas()
    w.add_alphas("genotype.alpha", ga)
    genotype = ref.derive_genotype(*ga, steps=cfg["steps"], multiplier=cfg["multiplier"])
    assert all(op != "none" for op, _ in genotype.normal + genotype.reduce)
    genotype_text = ref.format_genotype(genotype)

    # Self-checks (float64).
    chk = self_check(net, s0, data, momentum, cfg)
    so_f32_vs_f64 = rel_err(so, chk.pop("second_order_grad_f64"))
    scalars.update(chk)
    scalars["selfcheck.second_order_rel_err_f32_vs_f64"] = so_f32_vs_f64

    manifest = {
        "config": cfg,
        "primitives": ref.PRIMITIVES,
        "dtype": "float32", "byte_order": "little",
        "tensors": w.tensors,
        "labels_train": y_t.tolist(),
        "labels_val": y_v.tolist(),
        "scalars": scalars,
        "notes": NOTES,
        "genotype": genotype_text,
        "torch_version": torch.__version__,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "search_small.bin"), "wb") as f:
        f.write(w.binary())
    with open(os.path.join(out_dir, "search_small.json"), "w") as f:
        f.write(manifest_text(manifest))
    with open(os.path.join(out_dir, "genotype_small.txt"), "w") as f:
        f.write(genotype_text + "\n")

    print(f"torch {torch.__version__}; small network: {len(names)} weight tensors, "
          f"{sum(p.numel() for p in s0['weights'])} weights, {len(bnames)} BN buffers")
    print(f"loss.train = {scalars['loss.train']:.7f}")
    print(f"second_order.R = {scalars['second_order.R']:.7e} "
          f"(||v|| = {scalars['second_order.v_norm']:.7e})")
    print(f"grad norm before clipping: first-order step {scalars['step_first_order.grad_norm']:.5f},"
          f" second-order step {scalars['step_second_order.grad_norm']:.5f}")
    print("self-check (float64), relative error of the finite-difference HVP vs the exact "
          "HVP (double backward):")
    for label in ("network", "smooth"):
        row = ", ".join(f"r={r:g}: {chk[f'selfcheck.{label}.hvp_rel_err_r{r:g}_f64']:.2e}"
                        for r in (1e-2, 1e-3, 1e-4, 1e-6))
        print(f"  {label:8s} {row}")
    for label in ("network", "smooth"):
        e = chk[f"selfcheck.{label}.second_order_r1e-06_rel_err_vs_unrolled_f64"]
        print(f"self-check (float64, {label}): second-order grad (r=1e-6) vs exact derivative "
              f"through the virtual step: relative error {e:.2e}")
    print(f"second-order grad (r=0.01) float32 vs float64: relative error {so_f32_vs_f64:.2e}")
    print("restore after perturbation: bit-exact (weights, BN buffers, alphas)")
    print(f"genotype: {genotype_text}")
    print(f"wrote {out_dir}/search_small.json, search_small.bin ({w.offset} floats), "
          f"genotype_small.txt")

    write_options_fixture(out_dir)


# The fixture of the search options (docs/algorithm.md section 11): PC-DARTS partial channels
# with edge normalization and the DARTS- auxiliary skip, both on, in a network small enough for
# a file of a few hundred KB.
OPTIONS_CONFIG = dict(CONFIG, C=2, layers=3, reduction_cells=[1, 2], partial_channels=2,
                      auxiliary_skip=True, aux_skip_weight=0.7, seed=SEED + 1,
                      arch_regularization_weight=0.7)
ARCH_NAMES = ["alphas_normal", "alphas_reduce", "betas_normal", "betas_reduce"]


def write_options_fixture(out_dir):
    """search_options.json / .bin: the same groups as search_small for the network with
    --partial-channels 2 --auxiliary-skip (beta_skip = aux_skip_weight), architecture tensors
    named arch.<alphas_normal|alphas_reduce|betas_normal|betas_reduce> in arch_parameters() order.
    To keep the file small, each group of weights (and of BN buffers) is one flat tensor in
    named_parameters() (named_buffers()) order; `weight_table` and `buffer_table` list the names
    and shapes once."""
    cfg = OPTIONS_CONFIG
    net, data, momentum = seeded_network_and_data(cfg, partial_channels=cfg["partial_channels"],
                                                  auxiliary_skip=cfg["auxiliary_skip"])
    net.aux_skip_weight = cfg["aux_skip_weight"]
    x_t, y_t, x_v, y_v = data
    names = [n for n, _ in net.named_parameters()]
    bnames = [n for n, _ in ref.bn_buffers(net)]
    s0 = ref.snapshot(net)
    w = Writer()
    scalars = {}

    def add_arch(prefix, tensors):
        for name, t in zip(ARCH_NAMES, tensors):
            w.add(f"{prefix}.{name}", t)

    def flat(tensors):
        return torch.cat([t.detach().reshape(-1) for t in tensors])

    w.add_weights = lambda prefix, _names, values: w.add(prefix, flat(values))

    write_state_and_gradients(w, scalars, net, s0, data, momentum, "arch", add_arch)
    ref.restore(net, s0)

    add_arch("first_order.arch_grad", ref.first_order_alpha_grad(net, x_v, y_v))
    ref.restore(net, s0)
    so, _ = ref.second_order_alpha_grad(net, x_t, y_t, x_v, y_v, cfg["eta"], momentum,
                                        cfg["weight_momentum"], cfg["weight_decay"], cfg["hessian_r"])
    assert same_state(net, s0)
    add_arch("second_order.arch_grad", so)

    for key, second in (("step_first_order", False), ("step_second_order", True)):
        r = full_step(net, s0, momentum, data, cfg, second)
        add_arch(f"{key}.arch", r["alphas"])
        w.add_weights(f"{key}.weight", names, r["weights"])
        w.add_weights(f"{key}.buffer", bnames, r["buffers"])
        scalars[f"{key}.grad_norm"] = r["grad_norm"]
    assert same_state(net, s0)

    # Genotype of the initial architecture parameters times 1000 (clear winners), with the betas.
    with torch.no_grad():
        for a in net.arch_parameters():
            a.mul_(1000.0)
    add_arch("genotype.arch", net.arch_parameters())
    genotype_text = ref.format_genotype(net.genotype())
    plain = ref.derive_genotype(net.alphas_normal, net.alphas_reduce)
    ref.restore(net, s0)

    # beta-DARTS (docs/algorithm.md section 11.2) at LAMBDA = arch_regularization_weight, from S0;
    # written after every other tensor, so that their offsets stay as they were.
    lam = cfg["arch_regularization_weight"]
    scalars["beta_reg.term"] = ref.beta_regularization(net).item()
    add_arch("beta_reg.first_order.arch_grad",
             ref.first_order_alpha_grad(net, x_v, y_v, arch_regularization=lam))
    ref.restore(net, s0)
    so_reg, _ = ref.second_order_alpha_grad(net, x_t, y_t, x_v, y_v, cfg["eta"], momentum,
                                            cfg["weight_momentum"], cfg["weight_decay"],
                                            cfg["hessian_r"], arch_regularization=lam)
    assert same_state(net, s0)
    add_arch("beta_reg.second_order.arch_grad", so_reg)
    # The term's gradient alone, against the closed form softmax(alpha_edge) / 28 (betas: none).
    term_grad = [g - p for g, p in zip(so_reg, so)]
    closed = [lam * F.softmax(a, dim=-1) / 28 for a in (net.alphas_normal, net.alphas_reduce)]
    term_error = max(rel_err(t, c) for t, c in zip(term_grad[:2], closed))
    assert term_error < 1e-3 and all(t.abs().max().item() == 0 for t in term_grad[2:]), term_error
    for key, second in (("step_first_order", False), ("step_second_order", True)):
        r = full_step(net, s0, momentum, data, cfg, second, arch_regularization=lam)
        add_arch(f"beta_reg.{key}.arch", r["alphas"])
    assert same_state(net, s0)

    manifest = {
        "config": cfg,
        "primitives": ref.PRIMITIVES,
        "dtype": "float32", "byte_order": "little",
        "tensors": w.tensors,
        "labels_train": y_t.tolist(),
        "labels_val": y_v.tolist(),
        "scalars": scalars,
        "notes": ["As search_small (see its notes), for the network with partial channels K = 2 "
                  "(PC-DARTS: ops on the first C/K channels, bypass max-pooled 2x2 on reduction edges, "
                  "channel shuffle, edge normalization by betas) and the auxiliary skip (DARTS-) with "
                  "weight config.aux_skip_weight in every forward. Betas are drawn after the alphas; "
                  "Adam moves alphas and betas alike.",
                  "genotype: from genotype.arch.* (the initial architecture parameters times 1000), "
                  "edges ranked by softmax(alpha) x edge weight; genotype_without_betas ignores the betas.",
                  "beta_reg.*: from S0 as above, with beta-DARTS' term config.arch_regularization_weight "
                  "* R(alpha) in the architect's loss, R = mean over the 28 alpha rows of logsumexp "
                  "(scalars['beta_reg.term'] at S0; betas not included): the first- and second-order "
                  "architecture gradients, and the architecture tensors after one full first- and "
                  "second-order step (the term's gradient added after the average, before Adam)."],
        "genotype": genotype_text,
        "genotype_without_betas": ref.format_genotype(plain),
        "weight_table": [[n, list(p.shape)] for n, p in net.named_parameters()],
        "buffer_table": [[n, list(b.shape)] for n, b in ref.bn_buffers(net)],
        "torch_version": torch.__version__,
    }
    with open(os.path.join(out_dir, "search_options.bin"), "wb") as f:
        f.write(w.binary())
    with open(os.path.join(out_dir, "search_options.json"), "w") as f:
        f.write(manifest_text(manifest))
    print(f"options network (K={cfg['partial_channels']}, auxiliary skip {cfg['aux_skip_weight']}): "
          f"{sum(p.numel() for p in s0['weights'])} weights; genotype {genotype_text}")
    print(f"wrote {out_dir}/search_options.json, search_options.bin ({w.offset} floats)")


if __name__ == "__main__":
    main()
