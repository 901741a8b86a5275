#!/usr/bin/env python3
"""PyTorch reference of the DARTS search network and its architect steps.

Independent reference for the Swift implementation. It follows the DARTS paper
(Liu, Simonyan, Yang, ICLR 2019, arXiv:1806.09055) and reproduces the module tree and
attribute names of the official code (quark0/darts, cnn/model_search.py and
cnn/operations.py), so that `named_parameters()` and `named_buffers()` yield the official
names in the official order, e.g. `cells.0._ops.0._ops.4.op.1.weight`.

Architecture parameters (`alphas_normal`, `alphas_reduce`, each 14 x 8) are plain leaf
tensors, not module parameters: they never appear in `named_parameters()` and never reach
the weight optimizer.

Two options of the search network (docs/algorithm.md section 11):
- `partial_channels=K > 1`: PC-DARTS (Xu et al., ICLR 2020, official code
  yuhuixu1993/PC-DARTS model_search.py): each MixedOp runs its operations on the first C/K
  channels, the rest bypass them (max-pooled 2x2 on reduction edges), the two are concatenated
  and channel-shuffled with K groups; a node weights its edges by a softmax over the betas of
  its incoming edges (`betas_normal`, `betas_reduce`, 14 each, after the alphas in
  `arch_parameters()`), and the genotype ranks edges by softmax(alpha) x that weight.
- `auxiliary_skip=True`: DARTS- (Chu et al., ICLR 2021): every MixedOp adds
  `aux_skip_weight * skip(x)` on its whole input (identity, or FactorizedReduce with its own
  weights at stride 2); not a candidate, no alpha.

One option of the architect step (docs/algorithm.md section 11.2):
- `arch_regularization=LAMBDA > 0`: beta-DARTS (Ye et al., CVPR 2022): LAMBDA * R(alpha) joins the
  validation loss, R = the mean over the 28 edges (14 normal, 14 reduce rows) of
  logsumexp(alpha_edge) (`beta_regularization`; the betas of partial channels do not enter). R does
  not depend on the weights, so its gradient (by autograd) is added once to the averaged alpha
  gradient: in first order to dL_val/dalpha, in second order to dalpha (v and the Hessian-vector
  product unchanged).

Usage:
    python scripts/torch_reference.py --check-size   # prints the CIFAR-10 search network size
"""

import argparse
import copy
from collections import namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F

PRIMITIVES = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]

CIFAR_SEARCH_WEIGHTS = 1_930_618  # "param size = 1.930618MB" in the official search log

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


# --------------------------------------------------------------------------- operations

class ReLUConvBN(nn.Module):
    """ReLU - Conv(k, stride, pad) - BN.  `op` = Sequential(ReLU, Conv2d, BatchNorm2d)."""

    def __init__(self, c_in, c_out, kernel_size, stride, padding, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """ReLU - depthwise k x k dilated (stride s) - pointwise 1x1 - BN."""

    def __init__(self, c_in, c_out, kernel_size, stride, padding, dilation, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    """(ReLU - depthwise k x k - pointwise 1x1 - BN) twice; only the first depthwise is strided."""

    def __init__(self, c_in, c_out, kernel_size, stride, padding, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=1, padding=padding,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    """The `none` op: zeros, with the strided shape x[:, :, ::s, ::s] when s > 1."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """ReLU - concat(conv1x1/2 (x), conv1x1/2 (x[:, :, 1:, 1:])) - BN; halves H and W."""

    def __init__(self, c_in, c_out, affine=True):
        super().__init__()
        assert c_out % 2 == 0
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        out = torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1)
        return self.bn(out)


OPS = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False),
    "skip_connect": lambda C, stride, affine: (
        Identity() if stride == 1 else FactorizedReduce(C, C, affine=affine)),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine=affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine=affine),
}


# --------------------------------------------------------------------------- search network

def channel_shuffle(x, groups):
    """PC-DARTS' channel_shuffle: view (N, groups, C / groups, H, W), swap axes 1 and 2, flatten.

    A channels_last input gives a channels_last result (the same values, shuffled within each pixel),
    so a network converted with `.to(memory_format=torch.channels_last)` stays in that layout."""
    n, c, h, w = x.size()
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        pixels = x.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups)
        return pixels.transpose(3, 4).reshape(n, h, w, c).permute(0, 3, 1, 2)
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class MixedOp(nn.Module):
    """sum_k w_k * op_k(x) over the 8 primitives; pools are followed by BN(affine=False).

    With k > 1 (PC-DARTS) the ops see x[:, :C/k] and the result is
    channel_shuffle(cat(ops, bypass), k); with `auxiliary_skip` (DARTS-) skip_weight * skip(x) is added.
    """

    def __init__(self, C, stride, k=1, auxiliary_skip=False):
        super().__init__()
        self.k = k
        self._ops = nn.ModuleList()
        for primitive in PRIMITIVES:
            op = OPS[primitive](C // k, stride, False)
            if "pool" in primitive:
                op = nn.Sequential(op, nn.BatchNorm2d(C // k, affine=False))
            self._ops.append(op)
        if k > 1:
            self.mp = nn.MaxPool2d(2, 2)
        if auxiliary_skip:
            self.auxiliary_skip = Identity() if stride == 1 else FactorizedReduce(C, C, affine=False)
        else:
            self.auxiliary_skip = None

    def forward(self, x, weights, skip_weight=None):
        if self.k == 1:
            out = sum(w * op(x) for w, op in zip(weights, self._ops))
        else:
            dim = x.shape[1]
            part, bypass = x[:, :dim // self.k], x[:, dim // self.k:]
            y = sum(w * op(part) for w, op in zip(weights, self._ops))
            if y.shape[2] != x.shape[2]:
                bypass = self.mp(bypass)
            out = channel_shuffle(torch.cat([y, bypass], dim=1), self.k)
        if self.auxiliary_skip is not None and skip_weight is not None:
            out = out + skip_weight * self.auxiliary_skip(x)
        return out


class Cell(nn.Module):
    """Search cell: 2 inputs, `steps` intermediate nodes, 14 mixed-op edges for steps = 4.

    Edge order (flat): node 0 <- {0, 1}, node 1 <- {0, 1, 2}, node 2 <- {0..3}, node 3 <- {0..4}.
    Output: channel concat of the last `multiplier` states (multiplier * C channels).
    """

    def __init__(self, steps, multiplier, c_prev_prev, c_prev, C, reduction, reduction_prev,
                 k=1, auxiliary_skip=False):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, C, 1, 1, 0, affine=False)
        self._steps = steps
        self._multiplier = multiplier
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self._ops.append(MixedOp(C, stride, k, auxiliary_skip))

    def forward(self, s0, s1, weights, weights2=None, skip_weight=None):
        s0 = self.preprocess0(s0)
        s1 = self.preprocess1(s1)
        states = [s0, s1]
        offset = 0
        for _ in range(self._steps):
            if weights2 is None:
                s = sum(self._ops[offset + j](h, weights[offset + j], skip_weight)
                        for j, h in enumerate(states))
            else:
                s = sum(weights2[offset + j] * self._ops[offset + j](h, weights[offset + j], skip_weight)
                        for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self._multiplier:], dim=1)


class Network(nn.Module):
    """DARTS search network: stem, `layers` cells (reductions at layers//3 and 2*layers//3), head."""

    def __init__(self, C, num_classes, layers, input_channels=3, steps=4, multiplier=4,
                 stem_multiplier=3, partial_channels=1, auxiliary_skip=False):
        super().__init__()
        self._C = C
        self._num_classes = num_classes
        self._layers = layers
        self._steps = steps
        self._multiplier = multiplier

        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(input_channels, c_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_curr),
        )
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            if i in (layers // 3, 2 * layers // 3):
                c_curr *= 2
                reduction = True
            else:
                reduction = False
            cell = Cell(steps, multiplier, c_prev_prev, c_prev, c_curr, reduction, reduction_prev,
                        partial_channels, auxiliary_skip)
            reduction_prev = reduction
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

        k = sum(2 + i for i in range(steps))
        self.alphas_normal = (1e-3 * torch.randn(k, len(PRIMITIVES))).requires_grad_(True)
        self.alphas_reduce = (1e-3 * torch.randn(k, len(PRIMITIVES))).requires_grad_(True)
        self.partial_channels = partial_channels
        self.auxiliary_skip = auxiliary_skip
        self.aux_skip_weight = 1.0  # DARTS-' beta_skip for the coming forwards
        if partial_channels > 1:
            self.betas_normal = (1e-3 * torch.randn(k)).requires_grad_(True)
            self.betas_reduce = (1e-3 * torch.randn(k)).requires_grad_(True)

    def arch_parameters(self):
        if self.partial_channels > 1:
            return [self.alphas_normal, self.alphas_reduce, self.betas_normal, self.betas_reduce]
        return [self.alphas_normal, self.alphas_reduce]

    def edge_weights(self, betas):
        """Edge normalization: softmax over the betas of each node's incoming edges."""
        parts, start = [], 0
        for i in range(self._steps):
            parts.append(F.softmax(betas[start:start + 2 + i], dim=-1))
            start += 2 + i
        return torch.cat(parts)

    def weights(self):
        return [p for _, p in self.named_parameters()]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        e_normal = e_reduce = None
        if self.partial_channels > 1:
            e_normal, e_reduce = self.edge_weights(self.betas_normal), self.edge_weights(self.betas_reduce)
        skip = self.aux_skip_weight if self.auxiliary_skip else None
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal,
                              e_reduce if cell.reduction else e_normal, skip)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))

    def loss(self, x, target):
        return F.cross_entropy(self(x), target)

    def genotype(self):
        if self.partial_channels > 1:
            return derive_genotype(self.alphas_normal, self.alphas_reduce, self._steps, self._multiplier,
                                   self.edge_weights(self.betas_normal), self.edge_weights(self.betas_reduce))
        return derive_genotype(self.alphas_normal, self.alphas_reduce, self._steps,
                               self._multiplier)


def clone_network(net, dtype):
    """Deep copy of `net` (weights, buffers, alphas) converted to `dtype`."""
    other = copy.deepcopy(net).to(dtype)
    names = ["alphas_normal", "alphas_reduce", "betas_normal", "betas_reduce"]
    for name, a in zip(names, net.arch_parameters()):
        setattr(other, name, a.detach().to(dtype).requires_grad_(True))
    return other


def count_weights(net):
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------- state helpers

def bn_buffers(net):
    """(name, tensor) of every BN running_mean / running_var, in named_buffers order."""
    return [(n, b) for n, b in net.named_buffers() if not n.endswith("num_batches_tracked")]


def snapshot(net):
    """Exact copy of weights, all buffers and alphas."""
    return {
        "weights": [p.detach().clone() for p in net.parameters()],
        "buffers": [b.detach().clone() for b in net.buffers()],
        "alphas": [a.detach().clone() for a in net.arch_parameters()],
    }


def restore(net, state):
    """Copy a snapshot back bit for bit."""
    with torch.no_grad():
        for p, v in zip(net.parameters(), state["weights"]):
            p.copy_(v)
        for b, v in zip(net.buffers(), state["buffers"]):
            b.copy_(v)
        for a, v in zip(net.arch_parameters(), state["alphas"]):
            a.copy_(v)


def set_weights(net, values):
    with torch.no_grad():
        for p, v in zip(net.parameters(), values):
            p.copy_(v)


def flat_norm(tensors):
    return torch.cat([t.reshape(-1) for t in tensors]).norm()


# --------------------------------------------------------------------------- architect

def local_gradients(grads):
    """The default `average`: one process, the gradients as they are."""
    return grads


# Every function below that takes gradients passes each list through `average` before using it.
# Under data parallelism `average` is the mean over ranks (an all_reduce); then every gradient
# that feeds w', v, R and the alpha update is the global one (docs/algorithm.md section 9, fault 7).

def beta_regularization(net):
    """beta-DARTS' R(alpha): the mean over the 28 edges (rows of alphas_normal and alphas_reduce)
    of logsumexp(alpha_edge). The betas of partial channels are not part of it."""
    return torch.cat([torch.logsumexp(net.alphas_normal, dim=-1),
                      torch.logsumexp(net.alphas_reduce, dim=-1)]).mean()


def add_arch_regularization(net, grads, weight):
    """`grads` (one per architecture tensor) plus weight * dR/d(tensor), dR by autograd; the list
    as it is for weight 0. Called after `average`: the term is the same on every rank."""
    if not weight:
        return grads
    term = torch.autograd.grad(weight * beta_regularization(net), net.arch_parameters(),
                               allow_unused=True)
    return [g if t is None else g + t.detach() for g, t in zip(grads, term)]


def first_order_alpha_grad(net, x_val, y_val, average=local_gradients, arch_regularization=0.0):
    """grad_alpha = dL_val(w, alpha)/dalpha (train-mode BN), plus arch_regularization * dR/dalpha.
    Returns one gradient per architecture tensor ([d normal, d reduce] without partial channels)."""
    loss = net.loss(x_val, y_val)
    grads = average([g.detach() for g in torch.autograd.grad(loss, net.arch_parameters())])
    return add_arch_regularization(net, grads, arch_regularization)


def finite_difference_hvp(net, x, y, v, r=1e-2, average=local_gradients):
    """(g+ - g-) / (2R) ~ d^2 L(w, alpha) / dalpha dw . v, perturbing around the current w.

    R = r / ||v|| (one norm over all weights); w+- = w +- R v; g+- = dL(w+-, alpha)/dalpha.
    The weights are restored bit for bit from a copy (no add / subtract round trip).
    Returns (hvp list, R, g_plus list, g_minus list).
    """
    w = [p.detach().clone() for p in net.parameters()]
    R = r / flat_norm(v)
    set_weights(net, [wi + R * vi for wi, vi in zip(w, v)])
    alphas = net.arch_parameters()
    g_plus = average([g.detach() for g in torch.autograd.grad(net.loss(x, y), alphas)])
    set_weights(net, [wi - R * vi for wi, vi in zip(w, v)])
    g_minus = average([g.detach() for g in torch.autograd.grad(net.loss(x, y), alphas)])
    set_weights(net, w)
    hvp = [(gp - gm).div(2 * R) for gp, gm in zip(g_plus, g_minus)]
    return hvp, R, g_plus, g_minus


def exact_hvp(net, x, y, v):
    """d/dalpha [ (dL(w, alpha)/dw) . v ] by double backward (v held constant)."""
    loss = net.loss(x, y)
    gw = torch.autograd.grad(loss, net.weights(), create_graph=True)
    dot = sum((g * vi).sum() for g, vi in zip(gw, v))
    return [g.detach() for g in torch.autograd.grad(dot, net.arch_parameters())]


def virtual_step(net, x_train, y_train, eta, momentum_buffers, weight_momentum=0.9,
                 weight_decay=3e-4, average=local_gradients):
    """w' = w - eta * (mu * m + dL_train(w)/dw + lambda * w)  (no clipping).

    `momentum_buffers` is the SGD momentum buffer per weight (None: zeros, first step).
    Returns (w', L_train(w)).
    """
    weights = net.weights()
    loss = net.loss(x_train, y_train)
    grads = average([g.detach() for g in torch.autograd.grad(loss, weights)])
    w_prime = []
    for i, (p, g) in enumerate(zip(weights, grads)):
        w = p.detach()
        m = torch.zeros_like(w) if momentum_buffers is None else momentum_buffers[i]
        w_prime.append(w - eta * (weight_momentum * m + (g + weight_decay * w)))
    return w_prime, loss.detach()


def second_order_alpha_grad(net, x_train, y_train, x_val, y_val, eta, momentum_buffers,
                            weight_momentum=0.9, weight_decay=3e-4, r=1e-2,
                            average=local_gradients, arch_regularization=0.0):
    """DARTS second-order architecture gradient (paper eq. 7-8; docs/algorithm.md section 3.2).

    1. w' = w - eta * (mu * m + dL_train(w)/dw + lambda * w)
    2. dalpha = dL_val(w', alpha)/dalpha, v = dL_val(w', alpha)/dw'
    3. R = r / ||v||; g+- = dL_train(w +- R v, alpha)/dalpha, around the ORIGINAL w; restore w
    4. grad_alpha = dalpha - eta * (g+ - g-) / (2R), plus arch_regularization * dR/dalpha
       (beta-DARTS; R depends on the alphas alone, so v and the product are unchanged)

    Weights and BN running statistics are restored bit for bit on return.
    Returns (grad_alpha list, info dict of intermediates).
    """
    state = snapshot(net)
    w_prime, loss_train = virtual_step(net, x_train, y_train, eta, momentum_buffers,
                                       weight_momentum, weight_decay, average)
    set_weights(net, w_prime)
    loss_val = net.loss(x_val, y_val)
    grads = average([g.detach() for g in
                     torch.autograd.grad(loss_val, net.arch_parameters() + net.weights())])
    n_arch = len(net.arch_parameters())
    dalpha = [g.detach() for g in grads[:n_arch]]
    v = [g.detach() for g in grads[n_arch:]]
    set_weights(net, state["weights"])
    hvp, R, g_plus, g_minus = finite_difference_hvp(net, x_train, y_train, v, r, average)
    restore(net, state)
    grad_alpha = [da - eta * h for da, h in zip(dalpha, hvp)]
    grad_alpha = add_arch_regularization(net, grad_alpha, arch_regularization)
    info = {
        "w_prime": w_prime, "v": v, "dalpha": dalpha, "hvp": hvp, "R": R,
        "g_plus": g_plus, "g_minus": g_minus,
        "loss_train": loss_train, "loss_val_at_w_prime": loss_val.detach(),
    }
    return grad_alpha, info


# --------------------------------------------------------------------------- optimizers, step

def make_weight_optimizer(net, lr=0.025, momentum=0.9, weight_decay=3e-4):
    return torch.optim.SGD(net.weights(), lr=lr, momentum=momentum,
                           weight_decay=weight_decay, foreach=False)


def make_alpha_optimizer(net, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3):
    return torch.optim.Adam(net.arch_parameters(), lr=lr, betas=betas,
                            weight_decay=weight_decay, foreach=False)


def momentum_buffers(weight_optimizer, net):
    """The SGD momentum buffer of every weight, or None before the first SGD step."""
    bufs = [weight_optimizer.state.get(p, {}).get("momentum_buffer") for p in net.weights()]
    if any(b is None for b in bufs):
        return None
    return [b.detach().clone() for b in bufs]


def set_momentum_buffers(weight_optimizer, net, values):
    for p, v in zip(net.weights(), values):
        weight_optimizer.state[p]["momentum_buffer"] = v.detach().clone()


def search_step(net, weight_optimizer, alpha_optimizer, x_train, y_train, x_val, y_val,
                second_order, grad_clip=5.0, average=local_gradients, arch_regularization=0.0):
    """One DARTS search step: architecture step (val batch), then weight step (train batch).

    The architecture step leaves weights and BN running statistics untouched; the weight
    step's forward is the only one that updates the running statistics.
    eta (virtual step) = the weight optimizer's current lr. `arch_regularization` is beta-DARTS'
    LAMBDA (0: the DARTS step).
    Returns a dict with the alpha gradient and the weight-gradient norm before clipping.
    """
    eta = weight_optimizer.param_groups[0]["lr"]
    group = weight_optimizer.param_groups[0]
    state = snapshot(net)
    if second_order:
        grad_alpha, _ = second_order_alpha_grad(
            net, x_train, y_train, x_val, y_val, eta, momentum_buffers(weight_optimizer, net),
            weight_momentum=group["momentum"], weight_decay=group["weight_decay"],
            average=average, arch_regularization=arch_regularization)
    else:
        grad_alpha = first_order_alpha_grad(net, x_val, y_val, average, arch_regularization)
    with torch.no_grad():
        for b, v in zip(net.buffers(), state["buffers"]):
            b.copy_(v)
    alpha_optimizer.zero_grad(set_to_none=True)
    for a, g in zip(net.arch_parameters(), grad_alpha):
        a.grad = g.clone()
    alpha_optimizer.step()

    weight_optimizer.zero_grad(set_to_none=True)
    loss = net.loss(x_train, y_train)
    grads = average([g.detach() for g in torch.autograd.grad(loss, net.weights())])
    for p, g in zip(net.weights(), grads):
        p.grad = g.clone()
    grad_norm = nn.utils.clip_grad_norm_(net.weights(), grad_clip)
    weight_optimizer.step()
    return {"grad_alpha": grad_alpha, "grad_norm": grad_norm.detach(), "loss": loss.detach()}


# --------------------------------------------------------------------------- genotype

def derive_genotype(alphas_normal, alphas_reduce, steps=4, multiplier=4, edges_normal=None,
                    edges_reduce=None):
    """docs/algorithm.md section 5: rank edges by max softmax weight over k != none, keep the top 2.

    With edge normalization (section 11) each row is first scaled by its edge weight."""
    none = PRIMITIVES.index("none")

    def parse(weights):
        gene = []
        start, n = 0, 2
        for _ in range(steps):
            W = weights[start:start + n]
            strength = [max(W[j][k] for k in range(len(W[j])) if k != none) for j in range(n)]
            edges = sorted(range(n), key=lambda j: -strength[j])[:2]
            for j in edges:
                k_best = None
                for k in range(len(W[j])):
                    if k != none and (k_best is None or W[j][k] > W[j][k_best]):
                        k_best = k
                gene.append((PRIMITIVES[k_best], j))
            start += n
            n += 1
        return gene

    wn = F.softmax(alphas_normal.detach().double(), dim=-1)
    wr = F.softmax(alphas_reduce.detach().double(), dim=-1)
    if edges_normal is not None:
        wn = wn * edges_normal.detach().double()[:, None]
        wr = wr * edges_reduce.detach().double()[:, None]
    wn, wr = wn.tolist(), wr.tolist()
    concat = list(range(2 + steps - multiplier, steps + 2))
    return Genotype(normal=parse(wn), normal_concat=concat, reduce=parse(wr), reduce_concat=concat)


def format_genotype(g):
    def ops(gene):
        return "[" + ", ".join(f"('{name}', {j})" for name, j in gene) + "]"
    return (f"Genotype(normal={ops(g.normal)}, normal_concat={list(g.normal_concat)}, "
            f"reduce={ops(g.reduce)}, reduce_concat={list(g.reduce_concat)})")


# --------------------------------------------------------------------------- command line

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-size", action="store_true",
                        help="build the CIFAR-10 search network and check its weight count")
    args = parser.parse_args()
    if args.check_size:
        torch.manual_seed(0)
        net = Network(C=16, num_classes=10, layers=8, input_channels=3)
        n = count_weights(net)
        n_alpha = sum(a.numel() for a in net.arch_parameters())
        print(f"CIFAR-10 search network (C=16, 8 layers): {n} weights, {n_alpha} alphas")
        if n != CIFAR_SEARCH_WEIGHTS:
            raise SystemExit(f"weight count {n} != expected {CIFAR_SEARCH_WEIGHTS}")
        print(f"weight count OK ({CIFAR_SEARCH_WEIGHTS})")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
