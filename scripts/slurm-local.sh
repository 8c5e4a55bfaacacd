#!/usr/bin/env bash
# slurm-local.sh: a throw-away one-node SLURM cluster on this machine, from Debian's packages:
# for trying `sbc run --cluster slurm` and for its tests (tests/run/test_slurm.py).
#
#   slurm-local.sh start    install munge/slurm if missing, write config, start daemons,
#                           wait until the node is idle
#   slurm-local.sh stop     cancel jobs, stop the daemons started from SBC_SLURM_DIR, delete it
#   slurm-local.sh status   print daemon pids and `sinfo`
#
# Environment:
#   SBC_SLURM_DIR       scratch folder for config, keys, pids, state, logs (default /tmp/sbc-slurm)
#   SBC_SLURM_TIMEOUT   seconds to wait for the node to become idle (default 60)
#   SBC_SLURM_MEM_MB    RealMemory given to the node (default: half the machine, at most 8192)
#   SBC_SLURM_CPUS      CPUs the node offers (default: nproc); more than nproc oversubscribes,
#                       e.g. 4 one-core jobs on a 2-core CI machine
#   SBC_SLURM_CTLD_PORT, SBC_SLURM_D_PORT   ports (default 6817, 6818); two clusters at
#                       once need different ports as well as different folders
#
# Clients find the cluster through SLURM_CONF: `. "$SBC_SLURM_DIR/env.sh"` after start, e.g.
#   scripts/slurm-local.sh start && . /tmp/sbc-slurm/env.sh && sbc run params/demo.yaml --cluster slurm --jobs 2
#
# Needs root (apt-get, munged, slurmd). No systemd: daemons are started directly.
# Only the daemons whose pid files live in SBC_SLURM_DIR are ever stopped.
set -euo pipefail

DIR="${SBC_SLURM_DIR:-/tmp/sbc-slurm}"
TIMEOUT="${SBC_SLURM_TIMEOUT:-60}"
CONF="$DIR/etc/slurm.conf"
MUNGE_KEY="$DIR/munge/munge.key"
MUNGE_SOCK="$DIR/munge/run/munge.socket.2"
MUNGE_PID="$DIR/munge/run/munged.pid"

die() { echo "slurm-local: $*" >&2; exit 1; }

# Every slurm command of this script, and of callers that source env.sh, use this config.
export SLURM_CONF="$CONF"

install_packages() {
    local missing=()
    command -v munged    >/dev/null 2>&1 || missing+=(munge)
    command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
    command -v slurmd    >/dev/null 2>&1 || missing+=(slurmd)
    command -v sbatch    >/dev/null 2>&1 || missing+=(slurm-client)
    command -v pgrep     >/dev/null 2>&1 || missing+=(procps)
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "needs root to install: ${missing[*]}"
    echo "slurm-local: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Debian's postinst scripts try to start services; in a container without
    # systemd/init that only prints noise, so block it while installing.
    local rc_d=/usr/sbin/policy-rc.d made_rc_d=0 log rc=0
    if [ ! -e "$rc_d" ]; then printf '#!/bin/sh\nexit 101\n' >"$rc_d"; chmod +x "$rc_d"; made_rc_d=1; fi
    log="$(mktemp)"
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 || rc=$?
    [ "$made_rc_d" -eq 1 ] && rm -f "$rc_d"
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$log" >&2; rm -f "$log"
        die "apt-get install ${missing[*]} failed (exit $rc)"
    fi
    rm -f "$log"
    return 0
}

# true while a process runs; a zombie counts as gone (detached daemons are
# reparented to pid 1, which in a container may be slow to reap them)
alive() {
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid from a pid file if that process is alive and is the named program
# (a stale pid file after a reboot may name an unrelated process), else nothing
live_pid() {
    local f="$1" name="$2" p
    [ -s "$f" ] || return 1
    p="$(cat "$f")"
    [ -n "$p" ] && alive "$p" || return 1
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$name" ] || return 1
    echo "$p"
}

write_config() {
    local host cpus mem_total mem
    host="$(hostname -s)"
    cpus="${SBC_SLURM_CPUS:-$(nproc)}"
    case "$cpus" in ''|*[!0-9]*|0) die "SBC_SLURM_CPUS must be a positive integer, got '$cpus'" ;; esac
    mem_total="$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)"
    mem="${SBC_SLURM_MEM_MB:-$(( mem_total / 2 < 8192 ? mem_total / 2 : 8192 ))}"
    mkdir -p "$DIR"/{etc,log,run,spool/ctld,spool/d,munge/run,munge/lib,munge/log}
    chmod 755 "$DIR"

    cat >"$CONF.new" <<EOF
# Written by slurm-local.sh; a one-node test cluster.
ClusterName=sbc-local
# explicit loopback addresses: works even where the host name does not resolve
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SBC_SLURM_CTLD_PORT:-6817}
SlurmdPort=${SBC_SLURM_D_PORT:-6818}
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Quick turnaround for tests: SIGKILL 5 s after the SIGTERM of a cancel or an
# exceeded time limit; finished jobs are forgotten after 30 s.
KillWait=5
MinJobAge=30
InactiveLimit=0
DefMemPerCPU=1024
$( [ "$cpus" -gt "$(nproc)" ] && echo "# more CPUs than the machine has (SBC_SLURM_CPUS): trust this file, not the hardware
SlurmdParameters=config_overrides" )
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if [ -f "$CONF" ] && cmp -s "$CONF" "$CONF.new"; then
        rm -f "$CONF.new"
    else
        # node sizes are read only when the daemons start: a changed config
        # restarts slurmctld and slurmd (jobs of the old cluster are lost)
        if [ -f "$CONF" ] && live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
            echo "slurm-local: config changed; restarting slurmctld and slurmd" >&2
            cancel_jobs
            stop_pidfile "$DIR/run/slurmd.pid" slurmd
            stop_pidfile "$DIR/run/slurmctld.pid" slurmctld
        fi
        mv -f "$CONF.new" "$CONF"
    fi
    # a fresh munge key per scratch folder (mungekey refuses to overwrite)
    if [ ! -s "$MUNGE_KEY" ]; then
        mungekey -c -k "$MUNGE_KEY" -b 1024 >/dev/null 2>&1 \
            || dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 2>/dev/null
    fi
    chown -R munge:munge "$DIR/munge"
    chmod 700 "$DIR/munge/lib" "$DIR/munge/log"
    chmod 755 "$DIR/munge" "$DIR/munge/run"
    chmod 400 "$MUNGE_KEY"
    # a helper for callers: `. $DIR/env.sh` then sbatch/squeue see this cluster
    printf 'export SLURM_CONF=%q\n' "$CONF" >"$DIR/env.sh"
}

start_munge() {
    live_pid "$MUNGE_PID" munged >/dev/null && return 0
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    # munged refuses to run as root; run it as the package's munge user
    runuser -u munge -- munged \
        --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCK" --pid-file="$MUNGE_PID" \
        --log-file="$DIR/munge/log/munged.log" --seed-file="$DIR/munge/lib/munged.seed" \
        || die "munged failed to start (see $DIR/munge/log/munged.log)"
    munge -S "$MUNGE_SOCK" -n </dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1 \
        || die "munge round trip failed (see $DIR/munge/log/munged.log)"
}

start_slurm() {
    if ! live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
        # -c: start clean, forgetting jobs and node states of an earlier run
        slurmctld -f "$CONF" -c || die "slurmctld failed to start (see $DIR/log/slurmctld.log)"
    fi
    if ! live_pid "$DIR/run/slurmd.pid" slurmd >/dev/null; then
        slurmd -f "$CONF" || die "slurmd failed to start (see $DIR/log/slurmd.log)"
    fi
}

wait_idle() {
    local host state deadline=$((SECONDS + TIMEOUT))
    host="$(hostname -s)"
    while :; do
        state="$(sinfo -h -n "$host" -p debug -o '%T' 2>/dev/null | head -n1 || true)"
        case "$state" in
            idle|mixed|allocated) return 0 ;;
            down*|drain*|fail*)
                # a node marked down by an earlier run comes back with RESUME
                scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "node $host not idle after ${TIMEOUT}s (sinfo state: '${state:-no answer}'; logs in $DIR/log)"
        fi
        sleep 0.5
    done
}

do_start() {
    install_packages
    write_config
    start_munge
    start_slurm
    wait_idle
    echo "slurm-local: up; SLURM_CONF=$CONF (source $DIR/env.sh)"
}

stop_pidfile() {
    local f="$1" name="$2" p _
    p="$(live_pid "$f" "$name")" || { rm -f "$f"; return 0; }
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then
        echo "slurm-local: $name (pid $p) ignored TERM; sending KILL" >&2
        kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$f"
}

# cancel every job of this cluster so that their processes go too
cancel_jobs() {
    local _
    [ -f "$CONF" ] && live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null || return 0
    scancel --full --quiet 2>/dev/null || true
    for _ in $(seq 1 20); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.5
    done
}

# pids of this cluster's slurmstepd processes (slurmd hands them its environment,
# so they carry our SLURM_CONF) and of everything below them: job processes
# that outlived a slurmctld or slurmd which died before it could cancel them
leftover_pids() {
    local p roots=() all
    for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
        tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qxF "SLURM_CONF=$CONF" && roots+=("$p")
    done
    [ "${#roots[@]}" -eq 0 ] && return 0
    all="$(ps -e -o pid= -o ppid=)"
    printf '%s\n' "${roots[@]}"
    awk -v roots="${roots[*]}" '
        { parent[$1] = $2 }
        END {
            n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1
            do { grew = 0
                 for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1; print p }
            } while (grew)
        }' <<<"$all"
}

do_stop() {
    local left
    cancel_jobs
    stop_pidfile "$DIR/run/slurmd.pid" slurmd
    stop_pidfile "$DIR/run/slurmctld.pid" slurmctld
    stop_pidfile "$MUNGE_PID" munged
    left="$(leftover_pids | tr '\n' ' ')"
    if [ -n "${left// /}" ]; then
        echo "slurm-local: killing leftover job processes: $left" >&2
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
    # delete only what start made, so a mistaken SBC_SLURM_DIR=/tmp or =$HOME is safe
    rm -rf "${DIR:?}"/{etc,log,run,spool,munge} "${DIR:?}/env.sh"
    rmdir "$DIR" 2>/dev/null || true
    echo "slurm-local: stopped"
}

do_status() {
    local rc=0 n p
    for n in munged slurmctld slurmd; do
        case "$n" in
            munged) p="$(live_pid "$MUNGE_PID" munged || true)" ;;
            *)      p="$(live_pid "$DIR/run/$n.pid" "$n" || true)" ;;
        esac
        if [ -n "$p" ]; then echo "$n: running (pid $p)"; else echo "$n: not running"; rc=1; fi
    done
    if [ "$rc" -eq 0 ]; then sinfo; squeue; fi
    return "$rc"
}

case "${1:-}" in
    start)  do_start ;;
    stop)   do_stop ;;
    status) do_status ;;
    *) echo "usage: $0 start|stop|status   (scratch folder: SBC_SLURM_DIR=$DIR)" >&2; exit 2 ;;
esac
