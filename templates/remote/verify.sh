# Exercise the router on one host for fleetroute verify: writable directories, both
# paths and the slots. Runs jobs and slot holders as RUN_AS and leaves nothing behind.
#
# Run as: bash -c "$(cat verify.sh)" fleetroute-verify BINARY ROUTER ROUTER_LOG \
#           LOCK_DIR RUN_AS NVIDIA_SMI MAX_GPU_JOBS MAX_CPU_JOBS ON_GPU_FULL \
#           INPUT_RULE SMALL LARGE MODE HOLD_SECONDS JOB_TIMEOUT \
#           GPU_ARG_COUNT GPU_ARG... CPU_ARG_COUNT CPU_ARG... ENV_COUNT NAME=VALUE...
# SMALL and LARGE give where each sample input comes from: given:PATH, duration:SECONDS,
# size:BYTES, pixels:WIDTHxHEIGHT or skip:REASON. MODE is none (directory checks
# only), dry (jobs in the router's dry-run mode) or full (GPU and CPU jobs run the
# workload, with nvidia-smi sampled while they run). HOLD_SECONDS bounds the life of
# each slot holder and of each dry-run job; JOB_TIMEOUT bounds each workload run.
#
# Output: sections that start with a line "@@fleetroute:NAME@@", printed when the
# script exits; empty lines before the first section are heartbeats. Section lines
# are KEY=VALUE, except in "samples" sections, whose lines are
# "MILLISECONDS EXIT_CODE NVIDIA_SMI_OUTPUT" with output lines joined by ";".
#
# Cleanup: a private directory holds the sample inputs and the jobs' files. On exit,
# on HUP, INT and TERM, and when a heartbeat write fails because the SSH connection
# is gone (SIGPIPE), the EXIT trap stops every holder and job and removes the
# directory. Holders also exit on their own after HOLD_SECONDS.
#
# Exit codes: 0 done, with the results in the sections (failed checks included);
# 2 bad usage; 129, 130, 141 or 143 stopped by HUP, INT, PIPE or TERM.
set -euo pipefail

# Lock a slot file ($1), write this process's PID to $2, then keep the lock for $3
# seconds. exec keeps the PID and the locked descriptor. Exit 200 means the slot is
# busy, as in the router. The body is a script for "bash -c", so its "$1" must not
# expand here.
# shellcheck disable=SC2016
readonly HOLDER_BODY='exec {fd}>>"$1" || exit 3
flock --nonblock --conflict-exit-code 200 "${fd}" || exit "$?"
printf "%s\n" "$$" >"$2" || exit 4
exec sleep "$3"'

# Write this process's PID to $1, change to directory $2 and exec the job $3...
# Exit 125 means the job could not start.
# shellcheck disable=SC2016
readonly JOB_BODY='printf "%s\n" "$$" >"$1" || exit 125
cd -- "$2" || exit 125
shift 2
exec "$@"'

# Holders and jobs start with "bash --norc -c": bash built with SSH_SOURCE_BASHRC
# (Debian's is) reads ~/.bashrc even for -c when SSH_CLIENT is set. That would
# change the job's environment, and it fails when RUN_AS cannot read the file.

readonly POLL_SECONDS=0.02
readonly SAMPLE_SECONDS=0.2
readonly HOLDER_START_SECONDS=5
# Bytes of a job's stdout and stderr kept as evidence.
readonly OUTPUT_TAIL_BYTES=600

REPORT=''
WORK_DIR=''
ACCESS=''
RUN_AS_PREFIX=()
RUN_AS_ENV=()
CHILD_PIDS=()
HOLDER_PIDS=()
NOW_MS=0
SAMPLES=''

#######################################
# Append a section header $1 to the report.
#######################################
section() {
  REPORT+=$'\n'"@@fleetroute:$1@@"$'\n'
}

#######################################
# Append the line KEY=VALUE ($1=$2) to the report, with line breaks turned into
# spaces so that the value stays on one line.
#######################################
emit() {
  local value="${2//$'\n'/ }"
  REPORT+="$1=${value//$'\r'/ }"$'\n'
}

#######################################
# Print a heartbeat line. When the SSH connection is gone, the write raises
# SIGPIPE, whose trap exits the script, and the EXIT trap cleans up.
#######################################
heartbeat() {
  printf '\n' 2>/dev/null
}

#######################################
# Set NOW_MS to the wall-clock time in milliseconds.
#######################################
update_now() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local micros="${EPOCHREALTIME/[.,]/}"
    NOW_MS=$(( 10#${micros} / 1000 ))
  else
    NOW_MS="$(date +%s%3N)"
  fi
}

#######################################
# Print the end of file $1: its last OUTPUT_TAIL_BYTES, from the first whole line
# on when the file is longer. Prints nothing when the file is missing or empty.
#######################################
tail_of() {
  local text
  if [[ ! -s "$1" ]]; then
    return 0
  fi
  text="$(tail -c "${OUTPUT_TAIL_BYTES}" -- "$1" | tr -d '\0')"
  if (( $(stat -c %s -- "$1") > OUTPUT_TAIL_BYTES )) && [[ "${text}" == *$'\n'* ]]; then
    text="${text#*$'\n'}"
  fi
  printf '%s' "${text}"
}

#######################################
# Stop the processes $@: TERM, then KILL for those still running after 2 s.
#######################################
stop_pids() {
  local pid waited=0
  if (( $# == 0 )); then
    return 0
  fi
  kill -TERM "$@" 2>/dev/null || true
  for pid in "$@"; do
    while kill -0 "${pid}" 2>/dev/null && (( waited < 100 )); do
      sleep 0.02
      waited=$(( waited + 1 ))
    done
  done
  kill -KILL "$@" 2>/dev/null || true
  for pid in "$@"; do
    wait "${pid}" 2>/dev/null || true
  done
}

#######################################
# Stop the running job, if any.
#######################################
stop_job() {
  stop_pids "${CHILD_PIDS[@]}"
  CHILD_PIDS=()
}

#######################################
# Stop every slot holder, so that their slots are free again.
#######################################
release_slots() {
  stop_pids "${HOLDER_PIDS[@]}"
  HOLDER_PIDS=()
}

#######################################
# EXIT trap: stop every process this script started, remove the private directory,
# then print the report.
#######################################
finish() {
  local status=$?
  # Ignored from here on, so that a closed connection cannot kill the script
  # halfway through its cleanup or through the report.
  trap '' PIPE
  stop_job
  release_slots
  if [[ -n "${WORK_DIR}" ]]; then
    rm -rf -- "${WORK_DIR}"
  fi
  section "end"
  printf '%s' "${REPORT}" 2>/dev/null || true
  exit "${status}"
}

#######################################
# Decide how to run commands as RUN_AS ($1): directly when connected as that user,
# through setpriv (or runuser) when connected as root. Sets ACCESS to self, setpriv,
# runuser or none, and RUN_AS_PREFIX and RUN_AS_ENV for the commands.
#######################################
resolve_access() {
  local run_as="$1" me uid gid home
  me="$(id -un)"
  section "access"
  emit user "${me}"
  if ! uid="$(id -u -- "${run_as}" 2>/dev/null)"; then
    ACCESS='none'
    emit method none
    emit reason "user ${run_as} does not exist on the host"
    return 0
  fi
  gid="$(id -g -- "${run_as}")"
  home="$(getent passwd -- "${run_as}" | cut -d: -f6)" || home='/'
  RUN_AS_ENV=("HOME=${home:-/}" "USER=${run_as}" "LOGNAME=${run_as}")
  if [[ "${me}" == "${run_as}" ]]; then
    ACCESS='self'
  elif (( EUID == 0 )) && have_program setpriv; then
    ACCESS='setpriv'
    RUN_AS_PREFIX=(setpriv "--reuid=${uid}" "--regid=${gid}" --init-groups --)
  elif (( EUID == 0 )); then
    ACCESS='runuser'
    RUN_AS_PREFIX=(runuser -u "${run_as}" --)
  else
    ACCESS='none'
    emit reason "connected as ${me}, which is neither root nor ${run_as}, so verify cannot act as ${run_as}"
  fi
  emit method "${ACCESS}"
}

#######################################
# Succeed when RUN_AS passes the test(1) expression $@.
#######################################
run_as_test() {
  "${RUN_AS_PREFIX[@]}" test "$@" 2>/dev/null
}

#######################################
# Report yes, no or missing for directory $2, which RUN_AS must be able to write.
#######################################
check_writable_dir() {
  local key="$1" dir="$2"
  if [[ ! -d "${dir}" ]]; then
    emit "${key}" missing
  elif run_as_test -w "${dir}" -a -x "${dir}"; then
    emit "${key}" yes
  else
    emit "${key}" no
  fi
}

#######################################
# Report whether RUN_AS can write the log and lock directories and the existing
# log and slot lock files ($3 GPU slots and $4 CPU slots).
#######################################
check_writable() {
  local log="$1" lock_dir="$2" kind count slot file
  local -A counts=([gpu]="$3" [cpu]="$4")
  section "writable"
  if [[ "${ACCESS}" == 'none' ]]; then
    emit unknown yes
    return 0
  fi
  check_writable_dir log_dir "$(dirname -- "${log}")"
  if [[ ! -e "${log}" ]]; then
    emit log_file missing
  elif run_as_test -w "${log}"; then
    emit log_file yes
  else
    emit log_file no
  fi
  check_writable_dir lock_dir "${lock_dir}"
  for kind in gpu cpu; do
    count="${counts[${kind}]}"
    for (( slot = 0; slot < count; slot++ )); do
      file="${lock_dir}/${kind}.${slot}.lock"
      if [[ -e "${file}" ]] && ! run_as_test -w "${file}"; then
        emit "lock_file ${kind}.${slot}.lock" no
      fi
    done
  done
}

#######################################
# Succeed when $1 names an executable file on PATH. "command -v" alone also prints
# files that are not executable when PATH has no executable one.
#######################################
have_program() {
  local path
  path="$(command -v -- "$1")" && [[ -f "${path}" && -x "${path}" ]]
}

#######################################
# Create the private directory, owned by RUN_AS so that jobs can read the inputs
# and write their PID files there.
#######################################
make_work_dir() {
  WORK_DIR="$(mktemp -d -- "${TMPDIR:-/tmp}/fleetroute-verify.XXXXXXXX")"
  chmod 0700 -- "${WORK_DIR}"
  if [[ "${ACCESS}" == 'setpriv' || "${ACCESS}" == 'runuser' ]]; then
    chown -- "${RUN_AS}:" "${WORK_DIR}"
  fi
}

#######################################
# Check the given input file $2 for the $1 path: it must exist and be readable by
# RUN_AS. Reports origin given or failed; sets INPUT to the path when usable.
#######################################
use_given_input() {
  local path="$2"
  emit path "${path}"
  if [[ ! -f "${path}" ]]; then
    emit origin failed
    emit reason "${path} is not a file on the host"
  elif ! run_as_test -r "${path}"; then
    emit origin failed
    emit reason "${path} is not readable by ${RUN_AS}"
  else
    emit origin given
    INPUT="${path}"
  fi
}

#######################################
# Make the sample input for the $1 path in the private directory: kind $2
# (duration, pixels or size) with value $3. Reports origin generated, skipped (no
# ffmpeg) or failed; sets INPUT to the path when made.
#######################################
make_input() {
  local name="$1" kind="$2" value="$3" path started status=0 output
  if [[ "${kind}" != 'size' ]] && ! have_program ffmpeg; then
    emit origin skipped
    emit reason "ffmpeg not found on the host, so verify cannot make a ${kind} sample; install ffmpeg or set verify_${name}_input"
    return 0
  fi

  update_now
  started="${NOW_MS}"
  case "${kind}" in
    duration)
      path="${WORK_DIR}/${name}.wav"
      output="$(ffmpeg -nostdin -v error -f lavfi -i anullsrc=r=1000:cl=mono -t "${value}" \
        -c:a pcm_u8 "${path}" 2>&1)" || status=$?
      ;;
    pixels)
      path="${WORK_DIR}/${name}.png"
      # The color source's default yuv420p would round odd sizes down to even ones.
      output="$(ffmpeg -nostdin -v error -f lavfi -i "color=c=black:s=${value},format=rgb24" -frames:v 1 \
        "${path}" 2>&1)" || status=$?
      ;;
    *)
      path="${WORK_DIR}/${name}.bin"
      output="$(truncate -s "${value}" -- "${path}" 2>&1)" || status=$?
      ;;
  esac
  update_now

  emit path "${path}"
  emit ms "$(( NOW_MS - started ))"
  if (( status != 0 )); then
    emit origin failed
    emit reason "making the ${kind} sample failed with exit code ${status}: ${output}"
    return 0
  fi
  chmod 0644 -- "${path}"
  emit origin generated
  INPUT="${path}"
}

#######################################
# Prepare the sample input for the $1 path from spec $2 (KIND:VALUE, see the
# header) and report it in an "input" section. Sets the global INPUT to its path,
# empty when there is none.
#######################################
prepare_input() {
  local name="$1" spec="$2" kind value
  kind="${spec%%:*}"
  value="${spec#*:}"
  INPUT=''
  section "input ${name}"
  case "${kind}" in
    given) use_given_input "${name}" "${value}" ;;
    skip)
      emit origin skipped
      emit reason "${value}"
      ;;
    duration | pixels | size) make_input "${name}" "${kind}" "${value}" ;;
    *)
      emit origin failed
      emit reason "unknown sample kind ${kind}"
      ;;
  esac
}

#######################################
# Print the PIDs and command names of the processes that have file $1 open, as
# PID:NAME separated by commas. Needs root to see other users' processes.
#######################################
open_by() {
  local file="$1" pattern fd_link pid seen=',' list=''
  pattern="$(printf '%s' "${file}" | sed 's/[][*?\\]/\\&/g')"
  while IFS= read -r fd_link; do
    pid="${fd_link#/proc/}"
    pid="${pid%%/*}"
    if [[ "${seen}" == *",${pid},"* || "${pid}" == "$$" ]]; then
      continue
    fi
    seen+="${pid},"
    list+="${list:+,}${pid}:$(tr -d '\n' <"/proc/${pid}/comm" 2>/dev/null || printf '?')"
  done < <(find /proc/[0-9]*/fd -maxdepth 1 -lname "${pattern}" 2>/dev/null || true)
  printf '%s' "${list}"
}

#######################################
# Succeed when /proc/locks lists an flock(2) lock on file $1. /proc/locks names a
# file by MAJOR:MINOR:INODE, with the device numbers in hex.
#######################################
is_locked() {
  local file="$1" dev inode major minor key
  [[ -e "${file}" && -r /proc/locks ]] || return 1
  read -r dev inode < <(stat -c '%d %i' -- "${file}") || return 1
  major=$(( ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff) ))
  minor=$(( (dev & 0xff) | ((dev >> 12) & ~0xff) ))
  printf -v key '%02x:%02x:%s' "${major}" "${minor}" "${inode}"
  awk -v key="${key}" '$2 == "FLOCK" && $6 == key { found = 1 } END { exit !found }' /proc/locks
}

#######################################
# Report, before verify takes any slot, which slots other processes hold.
#######################################
scan_slots() {
  local lock_dir="$1" kind count slot file
  local -A counts=([gpu]="$2" [cpu]="$3")
  section "slots"
  for kind in gpu cpu; do
    count="${counts[${kind}]}"
    for (( slot = 0; slot < count; slot++ )); do
      file="${lock_dir}/${kind}.${slot}.lock"
      if is_locked "${file}"; then
        emit "${kind}.${slot}" "held $(open_by "${file}")"
      else
        emit "${kind}.${slot}" free
      fi
    done
  done
}

#######################################
# Succeed when BINARY still links to ROUTER, so that running it cannot run the
# unwrapped workload.
#######################################
still_wrapped() {
  [[ -L "${BINARY}" && "$(readlink -- "${BINARY}")" == "${ROUTER}" && -f "${ROUTER}" ]]
}

#######################################
# Append one GPU memory sample to SAMPLES.
#######################################
sample_gpus() {
  local output status=0
  output="$("${NVIDIA_SMI}" --query-gpu=index,memory.used --format=csv,noheader,nounits 2>&1 </dev/null)" \
    || status=$?
  update_now
  output="${output//$'\r'/}"
  SAMPLES+="${NOW_MS} ${status} ${output//$'\n'/;}"$'\n'
}

#######################################
# Set JOB_ARGS and JOB_ENV so that the router's INPUT_RULE finds input $1:
# first-file and arg:N pass it as positional arguments, flag:NAME as NAME's value
# and env:VAR in VAR.
#######################################
build_job_args() {
  local input="$1" kind="${INPUT_RULE%%:*}" value="${INPUT_RULE#*:}" index
  JOB_ARGS=()
  JOB_ENV=()
  case "${kind}" in
    arg)
      for (( index = 0; index < value; index++ )); do
        JOB_ARGS+=("${input}")
      done
      ;;
    flag) JOB_ARGS=("${value}" "${input}") ;;
    env) JOB_ENV=("${value}=${input}") ;;
    *) JOB_ARGS=("${input}") ;;
  esac
}

#######################################
# Print the arguments $@ as the router's log line lists them: each one after a
# space, quoted like bash's printf %q in the C locale.
#######################################
quote_args() {
  local arg quoted text=''
  for arg in "$@"; do
    LC_ALL=C printf -v quoted ' %q' "${arg}"
    text+="${quoted}"
  done
  printf '%s' "${text}"
}

#######################################
# Run one job named $1 through BINARY on input $2, as RUN_AS, in dry-run mode when
# $3 is dry. $4 is the time limit in seconds, $5 is 1 to sample GPU memory, and
# the device arguments that the router should append follow. Reports the exit
# code, the time taken, the job's PID and its router log line.
#######################################
run_job() {
  local name="$1" input="$2" mode="$3" limit="$4" sample="$5"
  shift 5
  local pid_file="${WORK_DIR}/${name}.pid" out="${WORK_DIR}/${name}.out" err="${WORK_DIR}/${name}.err"
  local offset=0 started deadline wrapper job_pid='' status=0 timed_out=0 line=''
  local -a dry_env=()
  section "job ${name}"
  if ! still_wrapped; then
    emit refused "${BINARY} no longer links to ${ROUTER}"
    return 0
  fi
  build_job_args "${input}"
  if [[ "${mode}" == 'dry' ]]; then
    dry_env=(FLEETROUTE_DRY_RUN=1)
  fi
  if [[ -f "${ROUTER_LOG}" ]]; then
    offset="$(stat -c %s -- "${ROUTER_LOG}")"
  fi
  SAMPLES=''
  if (( sample )); then
    sample_gpus
  fi

  update_now
  started="${NOW_MS}"
  deadline=$(( started + limit * 1000 ))
  "${RUN_AS_PREFIX[@]}" env -u FLEETROUTE_DRY_RUN "${RUN_AS_ENV[@]}" "${VERIFY_ENV[@]}" "${JOB_ENV[@]}" \
    "${dry_env[@]}" bash --norc -c "${JOB_BODY}" fleetroute-job "${pid_file}" "${WORK_DIR}" \
    "${BINARY}" "${JOB_ARGS[@]}" >"${out}" 2>"${err}" </dev/null &
  wrapper=$!
  CHILD_PIDS=("${wrapper}")
  while kill -0 "${wrapper}" 2>/dev/null; do
    heartbeat
    if [[ -z "${job_pid}" && -s "${pid_file}" ]]; then
      job_pid="$(<"${pid_file}")"
      CHILD_PIDS+=("${job_pid}")
    fi
    if (( sample )); then
      sample_gpus
      sleep "${SAMPLE_SECONDS}"
    else
      sleep "${POLL_SECONDS}"
    fi
    update_now
    if (( NOW_MS > deadline )); then
      timed_out=1
      stop_job
      break
    fi
  done
  update_now
  if (( ! timed_out )); then
    wait "${wrapper}" || status=$?
  fi
  CHILD_PIDS=()
  if (( sample )); then
    sample_gpus
  fi
  if [[ -z "${job_pid}" && -s "${pid_file}" ]]; then
    job_pid="$(<"${pid_file}")"
  fi

  emit exit "${status}"
  emit ms "$(( NOW_MS - started ))"
  emit timed_out "${timed_out}"
  emit pid "${job_pid}"
  if [[ -n "${job_pid}" && -f "${ROUTER_LOG}" ]]; then
    line="$(tail -c "+$(( offset + 1 ))" -- "${ROUTER_LOG}" | grep -F -- " pid=${job_pid} " | tail -n 1)" || true
  fi
  emit log "${line}"
  emit expected_args "$(quote_args "${JOB_ARGS[@]}" "$@")"
  emit stderr "$(tail_of "${err}")"
  emit stdout "$(tail_of "${out}")"
  if (( sample )); then
    section "samples ${name}"
    REPORT+="${SAMPLES}"
  fi
}

#######################################
# Hold every slot of kind $1 (gpu or cpu), $2 slots, with holders that run as
# RUN_AS. Reports each slot as held, busy (another process has it locked) or failed.
# Returns 1 unless every slot is held.
#######################################
hold_slots() {
  local kind="$1" count="$2" slot ready err pid waited status all_held=0
  for (( slot = 0; slot < count; slot++ )); do
    ready="${WORK_DIR}/holder.${kind}.${slot}.pid"
    err="${WORK_DIR}/holder.${kind}.${slot}.err"
    rm -f -- "${ready}"
    "${RUN_AS_PREFIX[@]}" env "${RUN_AS_ENV[@]}" bash --norc -c "${HOLDER_BODY}" fleetroute-holder \
      "${LOCK_DIR}/${kind}.${slot}.lock" "${ready}" "${HOLD_SECONDS}" >/dev/null 2>"${err}" </dev/null &
    pid=$!
    HOLDER_PIDS+=("${pid}")
    waited=0
    while [[ ! -s "${ready}" ]] && kill -0 "${pid}" 2>/dev/null \
      && (( waited < HOLDER_START_SECONDS * 50 )); do
      heartbeat
      sleep "${POLL_SECONDS}"
      waited=$(( waited + 1 ))
    done
    if [[ -s "${ready}" ]]; then
      HOLDER_PIDS+=("$(<"${ready}")")
      emit "${kind}.${slot}" held
    elif kill -0 "${pid}" 2>/dev/null; then
      emit "${kind}.${slot}" "failed: no lock after ${HOLDER_START_SECONDS} s"
      all_held=1
    else
      wait "${pid}" && status=0 || status=$?
      if (( status == 200 )); then
        emit "${kind}.${slot}" "busy $(open_by "${LOCK_DIR}/${kind}.${slot}.lock")"
      else
        emit "${kind}.${slot}" "failed: exit code ${status}: $(tail_of "${err}")"
      fi
      all_held=1
    fi
  done
  return "${all_held}"
}

#######################################
# Check that a job on the $1 path (gpu or cpu) with input $2 is blocked while every
# slot is held and runs again once they are free. The path's device arguments
# follow. With ON_GPU_FULL cpu, a GPU job moves to a free CPU slot when the GPU
# slots are full. So verify first runs one GPU job with only the GPU slots held,
# then holds the CPU slots too before the job that must be blocked.
#######################################
check_blocking() {
  local kind="$1" input="$2" held=0
  shift 2
  section "holders ${kind}_blocking"
  if [[ "${kind}" == 'gpu' ]]; then
    hold_slots gpu "${MAX_GPU_JOBS}" || held=1
    if (( held == 0 )) && [[ "${ON_GPU_FULL}" == 'cpu' ]]; then
      run_job "${kind}_blocking.overflow" "${input}" dry "${HOLD_SECONDS}" 0 "${CPU_ARGS[@]}"
      section "holders ${kind}_blocking"
      hold_slots cpu "${MAX_CPU_JOBS}" || held=1
    fi
  else
    hold_slots cpu "${MAX_CPU_JOBS}" || held=1
  fi
  if (( held == 0 )); then
    run_job "${kind}_blocking.while_held" "${input}" dry "${HOLD_SECONDS}" 0 "$@"
  fi
  release_slots
  if (( held == 0 )); then
    run_job "${kind}_blocking.after_release" "${input}" dry "${HOLD_SECONDS}" 0 "$@"
  fi
}

#######################################
# Run the GPU and CPU path checks and the blocking checks in MODE.
#######################################
check_paths() {
  local small="$1" large="$2" limit="${HOLD_SECONDS}" sample=0
  if [[ "${MODE}" == 'full' ]]; then
    limit="${JOB_TIMEOUT}"
    sample=1
  fi
  scan_slots "${LOCK_DIR}" "${MAX_GPU_JOBS}" "${MAX_CPU_JOBS}"
  if [[ -n "${small}" ]]; then
    run_job gpu_path "${small}" "${MODE}" "${limit}" "${sample}" "${GPU_ARGS[@]}"
  fi
  if [[ -n "${large}" ]]; then
    run_job cpu_path "${large}" "${MODE}" "${limit}" "${sample}" "${CPU_ARGS[@]}"
  fi
  if [[ -n "${small}" ]]; then
    check_blocking gpu "${small}" "${GPU_ARGS[@]}"
  fi
  if [[ -n "${large}" ]]; then
    check_blocking cpu "${large}" "${CPU_ARGS[@]}"
  fi
}

#######################################
# Read a count-prefixed list from the arguments: the count, then that many words.
# Sets LIST and LIST_USED (the number of arguments consumed).
#######################################
read_list() {
  local count="${1:-}"
  if [[ ! "${count}" =~ ^[0-9]+$ ]] || (( $# - 1 < count )); then
    printf 'fleetroute verify: bad usage: expected a count and that many words\n' >&2
    exit 2
  fi
  shift
  LIST=("${@:1:count}")
  LIST_USED=$(( count + 1 ))
}

main() {
  if (( $# < 18 )); then
    printf 'fleetroute verify: bad usage: expected at least 18 arguments, got %s\n' "$#" >&2
    exit 2
  fi
  readonly BINARY="$1" ROUTER="$2" ROUTER_LOG="$3" LOCK_DIR="$4" RUN_AS="$5" NVIDIA_SMI="$6"
  readonly MAX_GPU_JOBS="$7" MAX_CPU_JOBS="$8" ON_GPU_FULL="$9" INPUT_RULE="${10}"
  readonly SMALL_SPEC="${11}" LARGE_SPEC="${12}" MODE="${13}" HOLD_SECONDS="${14}" JOB_TIMEOUT="${15}"
  shift 15
  read_list "$@"
  readonly -a GPU_ARGS=("${LIST[@]}")
  shift "${LIST_USED}"
  read_list "$@"
  readonly -a CPU_ARGS=("${LIST[@]}")
  shift "${LIST_USED}"
  read_list "$@"
  readonly -a VERIFY_ENV=("${LIST[@]}")

  trap finish EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM

  resolve_access "${RUN_AS}"
  check_writable "${ROUTER_LOG}" "${LOCK_DIR}" "${MAX_GPU_JOBS}" "${MAX_CPU_JOBS}"
  if [[ "${MODE}" == 'none' || "${ACCESS}" == 'none' ]]; then
    return 0
  fi
  make_work_dir
  local small large
  prepare_input small "${SMALL_SPEC}"
  small="${INPUT}"
  prepare_input large "${LARGE_SPEC}"
  large="${INPUT}"
  check_paths "${small}" "${large}"
}

main "$@"
