# What the GPU check scripts share, sourced once `out` (their report folder, created) and
# `report_name` (the prefix of their lines) are set: a fresh summary.txt that every line
# they say also goes to, and a failure that says why, shows the end of a log, and stops.
: >"$out/summary.txt"
say() { echo "$report_name: $*" | tee -a "$out/summary.txt"; }
fail() { # fail MESSAGE [LOG]
  say "$1"
  [ -n "${2:-}" ] && tail -n 40 "$2"
  exit 1
}
