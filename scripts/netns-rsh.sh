#!/bin/sh
# OpenMPI's remote-shell agent for the simulated cluster of netns-cluster.sh
# (mpirun --mca plm_rsh_agent scripts/netns-rsh.sh): where mpirun would run `ssh HOST COMMAND`, it
# runs COMMAND inside the network namespace that plays HOST, with the host name of that host (its
# own UTS namespace), as ssh would on a real host. The map from hostfile address to namespace and
# host name comes from netns-cluster.sh in DARTS_NETNS_HOSTS ("ADDRESS=NAMESPACE=HOSTNAME ...").
set -eu
target=$1
shift
for entry in ${DARTS_NETNS_HOSTS:-}; do
    address=${entry%%=*}
    rest=${entry#*=}
    if [ "$address" = "$target" ]; then
        namespace=${rest%%=*}
        name=${rest#*=}
        # ssh hands its arguments, joined by spaces, to the remote shell: so does this agent.
        exec ip netns exec "$namespace" unshare --uts sh -c 'hostname "$1" && exec sh -c "$2"' sh "$name" "$*"
    fi
done
echo "netns-rsh.sh: $target is not a host of the simulated cluster (DARTS_NETNS_HOSTS: ${DARTS_NETNS_HOSTS:-unset})" >&2
exit 255
