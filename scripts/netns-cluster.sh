#!/usr/bin/env bash
# A simulated multi-host cluster on one Linux machine: runs `darts-dist search` with mpirun across
# 2 to 4 network namespaces (the hosts), then the same search on this host alone with the same
# world size, and checks that every rank ends with bit-identical weights and alphas in both runs
# (result.json `rankChecksums`).
#
#   scripts/netns-cluster.sh [--hostfile hostfiles/netns] [--binary .build/release/darts-dist]
#                            [--out DIR] [--prefix NAME] [--timeout SECONDS] [--check] [-- SEARCH-ARGUMENTS...]
#
# The hosts: one namespace per hostfile line, named PREFIX-nodeI, with the host name nodeI (its own
# UTS namespace) and the hostfile's address on eth0, a veth whose other end sits on a bridge in a
# namespace of its own (PREFIX-switch). Nothing is added to this machine's own network namespace:
# the addresses (10.77.0.1 to 10.77.0.4) exist only inside the namespaces made here, so no packet
# reaches any other network. mpirun runs on node1 and starts the other hosts' daemons through
# scripts/netns-rsh.sh (OpenMPI's plm_rsh_agent: `ip netns exec` where a cluster would use ssh);
# MPI traffic uses TCP on the namespace interfaces only (btl_tcp_if_include / oob_tcp_if_include)
# and shared memory between ranks of one host; mpi_yield_when_idle lets waiting ranks give up the
# CPU on a machine with fewer cores than ranks.
#
# Writes DIR/cluster and DIR/single (two run folders). Each mpirun is stopped after --timeout seconds
# (900 by default). Every namespace is deleted at the end,
# whether the runs succeed or fail (trap), and every process left in them is killed.
# Exit status: 0 equal results, 1 failure or different results, 77 skipped: network namespaces
# cannot be created here (needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN). --check only tells
# whether they can (0 or 77).
set -euo pipefail
cd "$(dirname "$0")/.."

hostfile=hostfiles/netns
binary=.build/release/darts-dist
out=""
prefix="dd$$"
timeout_seconds=900
check_only=0
search_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --hostfile) hostfile=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --timeout) timeout_seconds=$2; shift 2 ;;
        --check) check_only=1; shift ;;
        --) shift; search_args=("$@"); break ;;
        *) echo "netns-cluster: unknown argument $1 (see the comment at the top of $0)" >&2; exit 1 ;;
    esac
done
say() { echo "netns-cluster: $*"; }
fail() { echo "netns-cluster: error: $*" >&2; exit 1; }
skip() { say "SKIPPED: $*"; exit 77; }

# Namespaces made by this run, deleted by the trap in reverse order.
created=()
# Processes left in them get SIGTERM (mpirun then ends its daemons and removes its session
# folders), and SIGKILL 3 seconds later.
cleanup() {
    local status=$? ns pid pids="" tries
    set +e
    trap '' INT TERM   # finish the cleanup whatever arrives now
    for ns in "${created[@]}"; do pids="$pids $(ip netns pids "$ns" 2>/dev/null)"; done
    if [ -n "${pids// /}" ]; then
        kill -TERM $pids 2>/dev/null
        for tries in 1 2 3 4 5 6; do
            sleep 0.5
            pids=$(for pid in $pids; do kill -0 "$pid" 2>/dev/null && echo "$pid"; done)
            [ -z "$pids" ] && break
        done
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    fi
    for ((i = ${#created[@]} - 1; i >= 0; i--)); do ip netns del "${created[i]}" 2>/dev/null; done
    [ ${#created[@]} -gt 0 ] && say "removed namespaces ${created[*]}"
    [ -n "$session" ] && rm -rf "$session"
    exit "$status"
}
# A signal ends the running mpirun (bounded() runs it in the background, so the trap runs at once).
child=""
session=""
interrupted() { [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit "$1"; }
trap cleanup EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM
# Runs a command with a time limit, standard input closed; returns its status.
bounded() {
    timeout --kill-after=10 "$timeout_seconds" "$@" </dev/null &
    child=$!
    local status=0
    wait "$child" || status=$?
    child=""
    return "$status"
}

# Can namespaces be made here?
command -v ip >/dev/null || skip "the ip command (Debian package iproute2) is missing"
command -v unshare >/dev/null || skip "the unshare command (util-linux) is missing"
if ! ip netns add "$prefix-probe" 2>/dev/null; then
    skip "cannot create network namespaces (not root, or no CAP_NET_ADMIN / CAP_SYS_ADMIN)"
fi
created+=("$prefix-probe")
ip netns exec "$prefix-probe" unshare --uts true 2>/dev/null \
    || skip "cannot run a command in a network namespace with its own host name (ip netns exec, unshare --uts)"
ip netns del "$prefix-probe"
created=()
[ "$check_only" -eq 1 ] && { say "network namespaces can be created here"; exit 0; }

# The hosts: "ADDRESS slots=N" lines of the hostfile.
[ -f "$hostfile" ] || fail "no hostfile $hostfile"
[ -x "$binary" ] || fail "no darts-dist binary at $binary; build it first (swift build -c release) or pass --binary"
command -v mpirun >/dev/null || fail "mpirun is missing (Debian package openmpi-bin)"
addresses=() slots=()
while read -r address rest; do
    case "$address" in ''|'#'*) continue ;; esac
    case "$address" in
        10.77.0.[1-4]) ;;
        *) fail "$hostfile: $address is not one of 10.77.0.1 to 10.77.0.4, the addresses of the simulated cluster" ;;
    esac
    n=$(sed -n 's/.*slots=\([0-9][0-9]*\).*/\1/p' <<<"$rest")
    addresses+=("$address")
    slots+=("${n:-1}")
done <"$hostfile"
hosts=${#addresses[@]}
[ "$hosts" -ge 2 ] && [ "$hosts" -le 4 ] || fail "$hostfile lists $hosts hosts; the simulated cluster has 2 to 4"
ranks=0
for n in "${slots[@]}"; do ranks=$((ranks + n)); done

[ -n "$out" ] || out="runs/netns-cluster-$(date +%Y%m%d-%H%M%S)"
if [ -e "$out/cluster" ] || [ -e "$out/single" ]; then fail "$out already holds a run; choose another --out"; fi
mkdir -p "$out"

# The network: a bridge in its own namespace, one veth to each host.
switch="$prefix-switch"
ip netns add "$switch"; created+=("$switch")
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up
map=""
for ((i = 0; i < hosts; i++)); do
    name="node$((i + 1))"
    ns="$prefix-$name"
    ip netns add "$ns"; created+=("$ns")
    ip -n "$switch" link add "p$((i + 1))" type veth peer name eth0 netns "$ns"
    ip -n "$switch" link set "p$((i + 1))" master br0 up
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6' 2>/dev/null || true
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "${addresses[i]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    map="$map ${addresses[i]}=$ns=$name"
    layout="${layout:+$layout, }$name ${addresses[i]}: ${slots[i]} rank(s)"
done
export DARTS_NETNS_HOSTS="${map# }"
say "$hosts hosts in namespaces ${created[*]:1}: $layout"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# OpenMPI's session folders go to a folder of this run, removed at the end.
session=$(mktemp -d "${TMPDIR:-/tmp}/netns-cluster.XXXXXX")
common=(--mca orte_tmpdir_base "$session" --bind-to none --mca pml ob1 --mca osc ^ucx --mca btl_vader_single_copy_mechanism none
        --mca mpi_yield_when_idle 1 -x OPENBLAS_NUM_THREADS)
binary_path=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
milliseconds() { echo $(($(date +%s%N) / 1000000)); }
elapsed() { local ms=$(($(milliseconds) - $1)); printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100)); }

# 1. Across the hosts: mpirun on node1, the other daemons through the rsh agent.
start=$(milliseconds)
status=0
bounded ip netns exec "$prefix-node1" unshare --uts sh -c 'hostname node1 && exec "$@"' sh \
    mpirun --hostfile "$hostfile" -np "$ranks" "${common[@]}" \
    --mca plm_rsh_agent "$PWD/scripts/netns-rsh.sh" --mca plm_rsh_no_tree_spawn 1 \
    --mca btl self,vader,tcp --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
    "$binary_path" search "${search_args[@]}" --out "$out/cluster" || status=$?
cluster_seconds=$(elapsed "$start")
[ "$status" -eq 0 ] || fail "the search across $hosts hosts failed (exit $status)"
say "$ranks ranks on $hosts hosts: $cluster_seconds s"

# 2. The same search on this host alone, same world size (shared memory only).
start=$(milliseconds)
status=0
bounded mpirun -np "$ranks" --oversubscribe "${common[@]}" --mca btl self,vader \
    "$binary_path" search "${search_args[@]}" --out "$out/single" || status=$?
single_seconds=$(elapsed "$start")
[ "$status" -eq 0 ] || fail "the single-host search failed (exit $status)"
say "$ranks ranks on one host: $single_seconds s"

# 3. The per-rank checksums of the final weights and alphas.
checksums() { tr -d ' \n"\\' <"$1/result.json" | sed -n 's/.*rankChecksums:\[\([^]]*\)\].*/\1/p'; }
cluster=$(checksums "$out/cluster")
single=$(checksums "$out/single")
[ -n "$cluster" ] || fail "no rankChecksums in $out/cluster/result.json"
if [ "$cluster" = "$single" ]; then
    say "EQUAL: rankChecksums of the cluster run and the single-host run are identical: $cluster"
else
    say "DIFFERENT: cluster $cluster, single host $single"
    exit 1
fi
