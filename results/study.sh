# Sourced by the study scripts (reference.sh, query-aware.sh, serving.sh): run_study STUDY PART...
# runs each part's sweep (STUDY/PART.cfg into STUDY/PART.csv, resuming where it stopped), merges
# the parts into STUDY.csv and plots it into STUDY/. PLOT_ARGS (an array) adds options to the plot
# script. The caller builds attnbench first.
run_study() {
  local study=$1 part
  shift
  local csvs=()
  for part in "$@"; do
    build/release/attnbench sweep --config "$study/$part.cfg" --out "$study/$part.csv" --resume
    csvs+=("$study/$part.csv")
  done
  rm -f "$study.csv"
  build/release/attnbench merge "${csvs[@]}" --out "$study.csv"
  local python=/usr/bin/python3  # Debian's, which has matplotlib
  [ -x "$python" ] || python=python3
  "$python" plots/plot_results.py "$study.csv" ${PLOT_ARGS[@]+"${PLOT_ARGS[@]}"}
}
