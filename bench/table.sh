# table.sh - sourced by linux.sh and debian.sh: each engine's runs, one line of
# space-separated seconds per run ("NA" where a measure is missing), in $tmp/ENGINE.all,
# and the helpers that make their table.
#   run_engines DEFAULT   runs each engine of $ENGINES (or DEFAULT) $runs times through
#                         the caller's engine_run ENGINE
#   col ENGINE N          the minimum of column N over that engine's runs (3 places)
#   ratio A B             A / B to two places, with an x

run_engines() {
	for e in ${ENGINES:-$1}; do
		: >"$tmp/$e.all"
		for _ in $(seq "$runs"); do
			engine_run "$e" >>"$tmp/$e.all"
		done
	done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
col() {
	[ -f "$tmp/$1.all" ] && awk -v c="$2" '{ print $c }' "$tmp/$1.all" | grep -v NA |
		sort -g | head -1 | awk '{ printf "%.3f\n", $1 }'
}
