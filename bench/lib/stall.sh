# shellcheck shell=bash
# The stall around a failure, from fio's per-I/O logs (write_lat_log=... log_avg_msec=0: one
# line per I/O, "time_ms, latency, ddir, bs, offset"; time = when the I/O completed, in ms
# since the job started). bench/iscsi (s4) and bench/scale use it.

# fio_gap FROM_MS TO_MS DDIR FILE... -> "GAP_MS AT_MS": the longest time between two
# consecutive completions, among completions at FROM_MS <= time <= TO_MS (TO_MS 0: no upper
# bound) of direction DDIR (0 read, 1 write, - any), and the completion time that ended it
# (the stall ran from AT - GAP to AT). "nan nan" with fewer than 2 completions.
fio_gap() {
    local from=$1 to=$2 dir=$3; shift 3
    cat "$@" 2>/dev/null |
        awk -F, -v f="$from" -v t="$to" -v d="$dir" \
            '{ x = $1 + 0 } x >= f && (t + 0 == 0 || x <= t) && (d == "-" || $3 + 0 == d + 0) { print x }' |
        sort -n |
        awk 'NR > 1 && $1 - p > m { m = $1 - p; at = $1 } { p = $1 }
             END { if (NR < 2) print "nan nan"; else print m + 0, at + 0 }'
}
# fio_last FILE... -> the time of the last completion (ms), "nan" if none
fio_last() {
    cat "$@" 2>/dev/null | awk -F, 'NF >= 3 { x = $1 + 0; if (n++ == 0 || x > m) m = x } END { print n ? m : "nan" }'
}
