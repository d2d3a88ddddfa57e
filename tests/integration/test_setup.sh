#!/bin/bash
# A fresh Debian 12 machine gets only what scripts/setup installs. This test
# fails whenever the build, a test, the demo or a benchmark needs something
# from a package that scripts/setup does not name:
#  - every dependency() of every meson.build (pkg-config file -> package),
#  - every find_program() of every meson.build,
#  - every tool in TOOLS below (the programs the scripts run).
# Each is resolved to the Debian package that owns it (dpkg -S) and that
# package must be in scripts/setup's list. A tool that is not installed at
# all fails too: setup ran before this test, so setup did not install it.
set -u
cd "$(dirname "$0")/../.."
source tests/integration/lib/lbfo.sh
trap 'lbfo_cleanup' EXIT

# Programs the tests, the demo and the benchmarks run (keep in step with
# them; grep -ohw for a new tool's name in scripts/ bench/ tests/).
TOOLS="meson ninja pkg-config cc
nbdkit nbdcopy nbdinfo nbdfuse nbdsh nbd-client fusermount3 fio qemu-img qemu-nbd
tgtd tgtadm iscsi-inq iscsi-readcapacity16 iscsi-ls
ip tc iptables ss pgrep flock timeout truncate cmp sha256sum
losetup mkfs.ext4 e2fsck mount umount
jq bc python3 valgrind gnuplot promtool nm
man systemd-analyze unshare numfmt
iperf3 wrk haproxy keepalived curl clang"

# The package list as scripts/setup installs it.
pkgs=" $(sed -n '/^PKGS="/,/^"/p' scripts/setup | tr -d '"' | sed 's/^PKGS=//' | tr '\n' ' ') "

# owner FILE -> the Debian package that installed FILE (symlinks and
# /usr-merge aliases resolved), empty when none.
owner() {
	local f=$1 p
	p=$(dpkg -S "$f" 2>/dev/null | head -n 1 | cut -d: -f1)
	[ -z "$p" ] && p=$(dpkg -S "$(readlink -f "$f")" 2>/dev/null | head -n 1 | cut -d: -f1)
	# /usr-merge: /bin/x is recorded as /usr/bin/x or the other way round
	if [ -z "$p" ]; then
		case "$f" in
		/usr/*) p=$(dpkg -S "${f#/usr}" 2>/dev/null | head -n 1 | cut -d: -f1) ;;
		*) p=$(dpkg -S "/usr$f" 2>/dev/null | head -n 1 | cut -d: -f1) ;;
		esac
	fi
	echo "$p"
}

# What apt installs for that list: the packages and everything they depend
# on (virtual packages such as pkg-config resolve to their provider here).
# shellcheck disable=SC2086
closure=" $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
	--no-breaks --no-replaces --no-enhances $pkgs 2>/dev/null | grep -v '^ ' | sort -u | tr '\n' ' ') "

# A package counts when apt installs it for setup's list, or when it is
# "Essential: yes" or "Priority: required" (on every Debian 12 system).
in_setup() {
	local p=$1 ess prio
	case "$closure" in *" $p "*) return 0 ;; esac
	ess=$(dpkg-query -W -f='${Essential}' "$p" 2>/dev/null)
	prio=$(dpkg-query -W -f='${Priority}' "$p" 2>/dev/null)
	[ "$ess" = yes ] || [ "$prio" = required ]
}

bad=()
deps=$(grep -rhoE "dependency\('[^']+'" --include=meson.build . 2>/dev/null |
	sed -e "s/.*('//" -e "s/'$//" | sort -u)
for d in $deps; do
	case "$d" in threads | dl | m | rt) continue ;; esac
	pc=$(pkg-config --path "$d" 2>/dev/null)
	if [ -z "$pc" ]; then
		bad+=("meson dependency '$d': no pkg-config file on this machine (not installed by scripts/setup)")
		continue
	fi
	p=$(owner "$pc")
	in_setup "$p" || bad+=("meson dependency '$d' ($pc) comes from package '${p:-?}', which scripts/setup does not install")
done
progs=$(grep -rhoE "find_program\('[^']+'" --include=meson.build . 2>/dev/null |
	sed -e "s/.*('//" -e "s/'$//" | sort -u)
for t in $TOOLS $progs; do
	f=$(command -v "$t" 2>/dev/null)
	if [ -z "$f" ]; then
		bad+=("tool '$t': not found (not installed by scripts/setup)")
		continue
	fi
	p=$(owner "$f")
	in_setup "$p" || bad+=("tool '$t' ($f) comes from package '${p:-?}', which scripts/setup does not install")
done

if [ ${#bad[@]} -eq 0 ]; then
	pass "setup: every meson dependency ($(echo "$deps" | wc -w)) and tool ($(echo $TOOLS $progs | wc -w)) comes from a package scripts/setup installs"
else
	for b in "${bad[@]}"; do fail "setup: $b"; done
fi
exit "$LBFO_FAILED"
