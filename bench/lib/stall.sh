# shellcheck shell=bash
# The stall around a failure, from fio's per-I/O logs (write_lat_log=... log_avg_msec=0: one
# line per I/O, "time_ms, latency, ddir, bs, offset"; time = when the I/O completed, in ms
# since the job started). bench/iscsi (s4) and bench/scale use it.

# fio_gap FROM_MS TO_MS DDIR FILE... -> "GAP_MS AT_MS": the longest time between two
# consecutive completions of direction DDIR (0 read, 1 write, - any) among the gaps that END
# at FROM_MS <= time <= TO_MS (TO_MS 0: no upper bound; the completion before may be earlier),
# and the completion time that ended it (the stall ran from AT - GAP to AT).
# "nan nan" when no gap ends in the window.
fio_gap() {
    local from=$1 to=$2 dir=$3; shift 3
    cat "$@" 2>/dev/null |
        awk -F, -v d="$dir" 'NF >= 3 && (d == "-" || $3 + 0 == d + 0) { print $1 + 0 }' |
        sort -n |
        awk -v f="$from" -v t="$to" '
            NR > 1 && $1 >= f + 0 && (t + 0 == 0 || $1 <= t + 0) && (!n++ || $1 - p > m) { m = $1 - p; at = $1 }
            { p = $1 }
            END { if (!n) print "nan nan"; else print m + 0, at + 0 }'
}
