# pingpong.sh - sourced by bench/linux/init.sh (in the guest) and bench/linux.sh
# (natively): pingpong DIR N sends a line back and forth between two shells through two
# FIFOs in DIR, N round trips; each is two context switches between processes (and, in
# a guest, two address-space switches).
pingpong() {
	rm -f "$1/pp1" "$1/pp2"
	mkfifo "$1/pp1" "$1/pp2"
	(exec 3<"$1/pp1" 4>"$1/pp2"; while read -r x <&3; do echo "$x" >&4; done) &
	exec 5>"$1/pp1" 6<"$1/pp2"
	n=0
	while [ $n -lt "$2" ]; do echo $n >&5; read -r x <&6; n=$((n + 1)); done
	exec 5>&- 6<&-
	wait
}
