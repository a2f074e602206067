# Summarise one host's router log for fleetroute log-stats, in one SSH round trip.
#
# Run as: bash -c "$(cat logstats.sh)" fleetroute-logstats LOG NVIDIA_SMI AWK_PROGRAM [NAME=VALUE...]
#   LOG          the router log. Rotated copies next to it are read too: LOG.N, LOG-DATE,
#                and either of them (or LOG itself) with .gz, .bz2, .xz or .zst appended.
#   NVIDIA_SMI   nvidia-smi command to list the GPUs with, or "" to skip the GPU query.
#   AWK_PROGRAM  the text of logstats.awk.
#   NAME=VALUE   variables for the awk program (since, until, zones, ...).
# Output: sections that start with a line "@@fleetroute:NAME@@":
#   zone                  date '+%Z %z'
#   meminfo               the MemTotal line of /proc/meminfo
#   nvidia-smi exit=N fields=F | nvidia-smi missing   (only with NVIDIA_SMI)
#   files                 INDEX<TAB>STATE<TAB>BYTES<TAB>PATH for each log file; INDEX 0
#                         is LOG. STATE is plain, gzip, bzip2, xz, zstd, missing,
#                         not-a-file, unreadable, or no-TOOL when the decompressor is missing
#   method awk|stream     how the lines are summarised
#   awk-failed exit=N     awk exited with N; the lines are streamed instead
#   stats                 logstats.awk's records (method awk)
#   stream N              the lines of file N, each prefixed with "|" (method stream)
#   read-error N STATUS   the reader of file N exited with STATUS (method stream)
#   end
# Anything printed before the first section (login banners) is not ours. Bytes sent
# stay small with method awk, whatever the size of the log; method stream, for hosts
# without a working awk, sends every line.
# Exit code: 0 unless bash itself fails; problems are reported inside sections.
set -euo pipefail
export LC_ALL=C
shopt -s nullglob

# Log files: logs[0] is LOG, then its rotated copies. readable lists the indexes of
# the files that can be read.
declare -a logs=()
declare -a readable=()
# Text that marks control lines in the stream fed to awk. Random, so that no log line
# contains it by accident.
marker="@@fleetroute-${RANDOM}${RANDOM}-$$@@"

section() {
  printf '\n@@fleetroute:%s@@\n' "$1"
}

#######################################
# Print the GPU list in nvidia-smi's CSV form, in a section that carries its exit code.
#######################################
probe_gpus() {
  local nvidia_smi="$1" fields="index,name,memory.total,memory.used,driver_version" output status=0
  if ! command -v "${nvidia_smi}" >/dev/null 2>&1; then
    section "nvidia-smi missing"
    return 0
  fi
  output="$("${nvidia_smi}" --query-gpu="${fields}" --format=csv,noheader,nounits 2>&1)" || status=$?
  section "nvidia-smi exit=${status} fields=${fields}"
  printf '%s\n' "${output}"
}

#######################################
# Set logs to LOG and the rotated copies next to it.
#######################################
list_logs() {
  local log="$1" path suffix
  logs=("${log}")
  for path in "${log}".* "${log}"-*; do
    suffix="${path#"${log}"}"
    if [[ "${suffix}" =~ ^([.][0-9]+|-[0-9][-0-9_T:]*)?([.](gz|bz2|xz|zst))?$ ]]; then
      logs+=("${path}")
    fi
  done
}

#######################################
# Print the program that decompresses file $1: gzip, bzip2, xz, zstd, or cat.
#######################################
reader_of() {
  case "$1" in
    *.gz) printf 'gzip\n' ;;
    *.bz2) printf 'bzip2\n' ;;
    *.xz) printf 'xz\n' ;;
    *.zst) printf 'zstd\n' ;;
    *) printf 'cat\n' ;;
  esac
}

#######################################
# Print the state of log file $1, as the files section lists it.
#######################################
describe_log() {
  local path="$1" reader
  if [[ ! -e "${path}" ]]; then
    printf 'missing\n'
  elif [[ ! -f "${path}" ]]; then
    printf 'not-a-file\n'
  elif [[ ! -r "${path}" ]]; then
    printf 'unreadable\n'
  else
    reader="$(reader_of "${path}")"
    if [[ "${reader}" == 'cat' ]]; then
      printf 'plain\n'
    elif command -v "${reader}" >/dev/null 2>&1; then
      printf '%s\n' "${reader}"
    else
      printf 'no-%s\n' "${reader}"
    fi
  fi
}

#######################################
# Print the files section and set readable.
#######################################
describe_logs() {
  local index state size
  section "files"
  for index in "${!logs[@]}"; do
    state="$(describe_log "${logs[index]}")"
    size='-'
    case "${state}" in
      plain | gzip | bzip2 | xz | zstd)
        readable+=("${index}")
        size="$(stat -c %s -- "${logs[index]}" 2>/dev/null || wc -c <"${logs[index]}")"
        ;;
      *) ;;
    esac
    printf '%s\t%s\t%s\t%s\n' "${index}" "${state}" "${size}" "${logs[index]}"
  done
}

#######################################
# Write the content of log file $1 to stdout, decompressed.
#######################################
read_log() {
  local path="$1" reader
  reader="$(reader_of "${path}")"
  if [[ "${reader}" == 'cat' ]]; then
    cat -- "${path}"
  else
    "${reader}" -dc -- "${path}"
  fi
}

#######################################
# Write every readable log file to stdout, each after a marker line that names it,
# and a marker line with the status of each reader that failed.
#######################################
feed_logs() {
  local index status
  for index in ${readable[@]+"${readable[@]}"}; do
    printf '%s file %s\n' "${marker}" "${index}"
    status=0
    read_log "${logs[index]}" || status=$?
    if (( status != 0 )); then
      printf '%s error %s %s\n' "${marker}" "${index}" "${status}"
    fi
  done
}

awk_works() {
  local output
  output="$(awk 'BEGIN { print 1 + 1 }' 2>/dev/null)" || return 1
  [[ "${output}" == '2' ]]
}

#######################################
# Print the stats section: the log files summarised by the awk program $1, with the
# NAME=VALUE variables $2... Fails, printing an awk-failed section, when awk fails.
#######################################
summarise_with_awk() {
  local program="$1" zone="$2" offset="$3" output status=0 assignment
  shift 3
  local -a options=(-v "marker=${marker}" -v "host_zone=${zone}" -v "host_offset=${offset}")
  for assignment in "$@"; do
    options+=(-v "${assignment}")
  done
  output="$(feed_logs | awk "${options[@]}" "${program}")" || status=$?
  if (( status != 0 )); then
    section "awk-failed exit=${status}"
    return 1
  fi
  section "stats"
  printf '%s\n' "${output}"
}

#######################################
# Copy stdin to stdout with "|" before each line.
#######################################
prefix_lines() {
  local line probe=''
  probe="$(printf 'x\n' | sed 's/^/|/' 2>/dev/null)" || probe=''
  if [[ "${probe}" == '|x' ]]; then
    sed 's/^/|/'
    return
  fi
  while IFS= read -r line || [[ -n "${line}" ]]; do
    printf '|%s\n' "${line}"
  done
}

#######################################
# Print each readable log file in a stream section, for hosts without a working awk.
#######################################
stream_logs() {
  local index status
  for index in ${readable[@]+"${readable[@]}"}; do
    section "stream ${index}"
    status=0
    read_log "${logs[index]}" | prefix_lines || status=$?
    if (( status != 0 )); then
      section "read-error ${index} ${status}"
    fi
  done
}

main() {
  local log="$1" nvidia_smi="$2" program="$3" zone offset
  shift 3
  read -r zone offset < <(date '+%Z %z') || true
  section "zone"
  printf '%s %s\n' "${zone:-UTC}" "${offset:-+0000}"
  section "meminfo"
  grep -E '^MemTotal:' /proc/meminfo || true
  if [[ -n "${nvidia_smi}" ]]; then
    probe_gpus "${nvidia_smi}"
  fi

  list_logs "${log}"
  describe_logs
  if awk_works; then
    section "method awk"
    if summarise_with_awk "${program}" "${zone:-UTC}" "${offset:-+0000}" "$@"; then
      section "end"
      return 0
    fi
  fi
  section "method stream"
  stream_logs
  section "end"
}

main "$@"
