#!/usr/bin/env python3
"""PyTorch evaluation network of DARTS (NetworkCIFAR) that loads `darts-dist export --format safetensors`.

The module tree and attribute names are those of the official code (quark0/darts, cnn/model.py:
`Cell`, `AuxiliaryHeadCIFAR`, `NetworkCIFAR`; operations from cnn/operations.py, shared with
scripts/torch_reference.py), so `state_dict()` has the names the export writes and
`load_state_dict(strict=True)` checks that every tensor is there with its shape. Two
generalizations, both as in the Swift network (Sources/DARTS/AugmentNetwork.swift,
AuxiliaryHead.swift): the stem takes `in_channels` (1 for grayscale), and the auxiliary head's
pooling adapts to its input size (the official 5x5 stride 3 assumes 8x8).

Usage (in a virtual environment with torch and safetensors):
    from torch_network import load_exported
    model, meta = load_exported("model.safetensors")   # eval mode
    logits = model(images)   # images: N x C x H x W float32, (pixel / 255 - meta["mean"][c]) / meta["std"][c]

    python scripts/torch_network.py model.safetensors   # prints the genotype, classes and parameter count
"""

import json
import sys
from collections import namedtuple

import torch
import torch.nn as nn

from torch_reference import OPS, FactorizedReduce, ReLUConvBN

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


class Cell(nn.Module):
    """Official cnn/model.py `Cell`: preprocess0/1, one operation per genotype edge (`_ops`)."""

    def __init__(self, genotype, c_prev_prev, c_prev, c, reduction, reduction_prev):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        if reduction:
            op_names, indices = zip(*genotype.reduce)
            concat = genotype.reduce_concat
        else:
            op_names, indices = zip(*genotype.normal)
            concat = genotype.normal_concat
        self._steps = len(op_names) // 2
        self._concat = concat
        self.multiplier = len(concat)
        self._ops = nn.ModuleList()
        for name, index in zip(op_names, indices):
            stride = 2 if reduction and index < 2 else 1
            self._ops.append(OPS[name](c, stride, True))
        self._indices = indices

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self._steps):
            h1 = self._ops[2 * i](states[self._indices[2 * i]])
            h2 = self._ops[2 * i + 1](states[self._indices[2 * i + 1]])
            states.append(h1 + h2)
        return torch.cat([states[i] for i in self._concat], dim=1)


def aux_pool_geometry(s):
    """The auxiliary head's pooling (kernel, stride) for an S x S input (AuxiliaryHead.poolGeometry)."""
    if 8 <= s <= 10:
        return 5, 3
    k = s - 1 if s <= 5 else (5 if s <= 10 else (s + 1) // 2)
    return k, s - k


class AuxiliaryHeadCIFAR(nn.Module):
    """Official `AuxiliaryHeadCIFAR` (features, classifier); training only, not used by forward here."""

    def __init__(self, c, num_classes, input_size=8):
        super().__init__()
        k, s = aux_pool_geometry(input_size)
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(k, stride=s, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


class NetworkCIFAR(nn.Module):
    """Official `NetworkCIFAR`; `forward` returns the logits (evaluation: no drop path, no auxiliary logits)."""

    def __init__(self, C, num_classes, layers, auxiliary, genotype, in_channels=3, image_size=32, stem_multiplier=3):
        super().__init__()
        self._layers = layers
        self._auxiliary = auxiliary
        self.drop_path_prob = 0.0
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        size = image_size
        for i in range(layers):
            reduction = i in [layers // 3, 2 * layers // 3]
            if reduction:
                c_curr *= 2
                size //= 2
            cell = Cell(genotype, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            reduction_prev = reduction
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == 2 * layers // 3:
                c_to_auxiliary, auxiliary_size = c_prev, size
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(c_to_auxiliary, num_classes, auxiliary_size)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))


def load_exported(path):
    """The network of a safetensors export, weights loaded with strict=True, in eval mode; and its metadata
    (genotype, configuration, mean, std, class_names, parsed from JSON)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        raw = f.metadata()
    meta = {key: json.loads(raw[key]) for key in ("genotype_json", "configuration", "mean", "std", "class_names")}
    meta["genotype"] = raw["genotype"]
    g = meta["genotype_json"]
    genotype = Genotype([tuple(e) for e in g["normal"]], g["normal_concat"], [tuple(e) for e in g["reduce"]], g["reduce_concat"])
    c = meta["configuration"]
    model = NetworkCIFAR(c["channels"], c["classes"], c["layers"], c["auxiliary"], genotype,
                         in_channels=c["inputChannels"], image_size=c["imageSize"], stem_multiplier=c.get("stemMultiplier", 3))
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    return model, meta


if __name__ == "__main__":
    model, meta = load_exported(sys.argv[1])
    parameters = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("auxiliary_head."))
    print(f"genotype = {meta['genotype']}")
    print(f"classes = {meta['class_names']}; input N x {meta['configuration']['inputChannels']} x "
          f"{meta['configuration']['imageSize']} x {meta['configuration']['imageSize']}, mean {meta['mean']} std {meta['std']}")
    print(f"{parameters} parameters (without the auxiliary head)")
