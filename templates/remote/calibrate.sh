# Run the workload on each sample input of a directory, one at a time, and measure it.
#
# Run as: bash -c "$(cat calibrate.sh)" fleetroute-calibrate NVIDIA_SMI BINARY WORKDIR \
#           INPUT_DIR RUN_TIMEOUT MAX_INPUTS INPUT_FLAG ENV_COUNT ENV... ARG...
# with a router rendered for measuring on stdin. Its log and lock directory are in
# WORKDIR and its input rule is first-file. A dry run of it per input logs the
# metric, measured as the installed router measures it.
# BINARY is the real workload. Each run gets the input (after INPUT_FLAG when that
# is not empty), then the ARGs (the GPU arguments), and the ENV entries
# (NAME=VALUE) in its environment. Runs go in ascending order of metric, and stop
# after the first that fails for memory (exit 137, or "out of memory" in its output).
# WORKDIR must not exist; it is created private and removed at exit.
#
# Output: sections that start with a line "@@fleetroute:NAME@@": "skip N" (reason=,
# path=) for inputs that were not run, "run N" per run (metric, exit, milliseconds,
# peak_vram_mb over the baseline, peak_ram_kb, samples, timed_out, oom, message,
# path), "stopped reason=oom" and "end". path= is always a section's last line.
# Exit code: 0, or 1 when WORKDIR or the inputs cannot be used (stderr says why).
set -uo pipefail
export LC_ALL=C

readonly SAMPLE_SECONDS=0.1
readonly KILL_GRACE_SECONDS=5

section() {
  printf '\n@@fleetroute:%s@@\n' "$1"
}

die() {
  printf 'fleetroute-calibrate: %s\n' "$1" >&2
  exit 1
}

skip() {
  section "skip $1"
  printf 'reason=%s\npath=%s\n' "$2" "$3"
}

# Print the metric of input $2 as the router rendered at $1 logs it, or "unknown".
measure() {
  local router="$1" input="$2" log="$3" line
  : >"${log}"
  FLEETROUTE_DRY_RUN=1 "${router}" "${input}" >/dev/null 2>&1 </dev/null || true
  line="$(grep -o ' metric=[^ ]*' "${log}" | head -n 1)"
  line="${line# metric=}"
  printf '%s\n' "${line:-unknown}"
}

# Print "INDEX USED" per GPU whose memory.used is a number.
gpu_used() {
  local nvidia_smi="$1"
  "${nvidia_smi}" --query-gpu=index,memory.used --format=csv,noheader,nounits 2>/dev/null \
    | awk -F', *' '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ { print $1, $2 }'
}

is_running() {
  local pid="$1" state
  state="$(awk '/^State:/ { print $2 }' "/proc/${pid}/status" 2>/dev/null)"
  [[ -n "${state}" && "${state}" != Z ]]
}

# Run one input and print its "run NUMBER" section; return 2 when it failed for memory.
run_input() {
  local nvidia_smi="$1" binary="$2" workdir="$3" timeout="$4" flag="$5" metric="$6" input="$7" number="$8"
  local -a baseline=() input_args=("${input}")
  local index used pid status started now elapsed peak_vram=-1 peak_ram=-1 hwm samples=0 timed_out=0 oom=0 message
  if [[ -n "${flag}" ]]; then
    input_args=("${flag}" "${input}")
  fi
  while read -r index used; do
    baseline[index]="${used}"
  done < <(gpu_used "${nvidia_smi}")

  started="$(date +%s%N)"
  env -- "${ENV_ENTRIES[@]}" "${binary}" "${input_args[@]}" "${GPU_ARGS[@]}" >"${workdir}/output" 2>&1 </dev/null &
  pid=$!
  while is_running "${pid}"; do
    while read -r index used; do
      if [[ -n "${baseline[index]:-}" ]] && (( used - baseline[index] > peak_vram )); then
        peak_vram=$(( used - baseline[index] ))
      fi
    done < <(gpu_used "${nvidia_smi}")
    hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/${pid}/status" 2>/dev/null)"
    if [[ "${hwm}" =~ ^[0-9]+$ ]] && (( hwm > peak_ram )); then
      peak_ram="${hwm}"
    fi
    samples=$(( samples + 1 ))
    now="$(date +%s%N)"
    if (( timed_out == 0 && (now - started) / 1000000000 >= timeout )); then
      timed_out=1
      kill -TERM "${pid}" 2>/dev/null
      ( sleep "${KILL_GRACE_SECONDS}"; kill -KILL "${pid}" 2>/dev/null ) >/dev/null 2>&1 &
    fi
    sleep "${SAMPLE_SECONDS}"
  done
  wait "${pid}"
  status=$?
  now="$(date +%s%N)"
  elapsed="$(( (now - started) / 1000000 ))"
  if (( status == 137 )) || grep -qi 'out of memory' "${workdir}/output"; then
    oom=1
  fi
  message="$(grep -v '^[[:space:]]*$' "${workdir}/output" | tail -n 1 | tr -d '\t\r' | cut -c 1-300)"

  section "run ${number}"
  printf 'metric=%s\nexit=%s\nmilliseconds=%s\n' "${metric}" "${status}" "${elapsed}"
  printf 'peak_vram_mb=%s\n' "$( (( peak_vram >= 0 )) && echo "${peak_vram}" || echo unknown)"
  printf 'peak_ram_kb=%s\n' "$( (( peak_ram >= 0 )) && echo "${peak_ram}" || echo unknown)"
  printf 'samples=%s\ntimed_out=%s\noom=%s\nmessage=%s\npath=%s\n' \
    "${samples}" "${timed_out}" "${oom}" "${message}" "${input}"
  (( oom == 0 )) || return 2
}

# Print "METRIC<TAB>PATH" for every usable input of directory $2, and skip sections for the rest.
measure_inputs() {
  local router="$1" dir="$2" max="$3" log="$4" input metric count=0 seen=0
  while IFS= read -r -d '' input; do
    seen=$(( seen + 1 ))
    if [[ "${input}" == *$'\n'* || "${input}" == *$'\t'* ]]; then
      continue
    fi
    if (( count >= max )); then
      skip "${seen}" "over-max-inputs" "${input}" >&2
      continue
    fi
    count=$(( count + 1 ))
    metric="$(measure "${router}" "${input}" "${log}")"
    if [[ "${metric}" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
      printf '%s\t%s\n' "${metric}" "${input}"
    else
      skip "${seen}" "metric-unknown" "${input}" >&2
    fi
  done < <(find "${dir}" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -print0 2>/dev/null | sort -z)
}

main() {
  local nvidia_smi="$1" binary="$2" workdir="$3" dir="$4" timeout="$5" max="$6" flag="$7" env_count="$8"
  shift 8
  ENV_ENTRIES=("${@:1:${env_count}}")
  shift "${env_count}"
  GPU_ARGS=("$@")
  local metric input list number=0

  [[ -d "${dir}" ]] || die "input directory ${dir} not found on the host"
  [[ -x "${binary}" ]] || die "workload ${binary} not found or not executable"
  mkdir -m 0700 -- "${workdir}" || die "failed to create ${workdir}"
  trap 'rm -rf -- "${workdir}"' EXIT
  mkdir -- "${workdir}/locks"
  cat >"${workdir}/router"
  chmod 0700 -- "${workdir}/router"

  # Skip sections go to stderr inside the substitution; send them to stdout here.
  list="$(measure_inputs "${workdir}/router" "${dir}" "${max}" "${workdir}/router.log" 2>"${workdir}/skips")"
  cat -- "${workdir}/skips"
  while IFS=$'\t' read -r metric input; do
    [[ -n "${input}" ]] || continue
    number=$(( number + 1 ))
    if ! run_input "${nvidia_smi}" "${binary}" "${workdir}" "${timeout}" "${flag}" "${metric}" "${input}" "${number}"; then
      section "stopped reason=oom"
      break
    fi
  done < <(sort -t $'\t' -k1,1g <<<"${list}")
  section "end"
}

main "$@"
