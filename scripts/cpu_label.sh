#!/usr/bin/env bash
# Prints one line naming this machine's CPU for benchmark tables: the model name, the x86 family
# and model numbers, and the widest vector instructions present (AVX-512 F, AVX2 or neither).
# Virtual machines often report only "AMD EPYC" as the model name; family 25 model 17 is then
# Zen 4, family 25 model 1 Zen 3, family 6 model 143 an Intel Sapphire Rapids.
set -euo pipefail
info=/proc/cpuinfo
field() { grep -m1 "^$1[[:space:]]*:" "$info" | sed 's/^[^:]*: *//' || true; }
name=$(field "model name")
family=$(field "cpu family")
model=$(field "model")
flags=" $(field flags) "
if [[ $flags == *" avx512f "* ]]; then vector=AVX-512
elif [[ $flags == *" avx2 "* ]]; then vector=AVX2
else vector="no AVX2"
fi
if [[ -n $family ]]; then
    echo "${name:-$(uname -m)} (family $family, model $model, $vector)"
else
    echo "${name:-$(uname -m)}"
fi
