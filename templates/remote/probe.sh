# Probe one host for deploy: GPUs, RAM, tools and the install state of one workload.
#
# Run as: bash -c "$(cat probe.sh)" fleetroute-probe NVIDIA_SMI BINARY REAL ROUTER \
#           MANIFEST PROBE_TOOL RUN_AS LOG_DIR LOCK_DIR SEND_ROUTER TMPFILES
# Output: sections that start with a line "@@fleetroute:NAME@@"; anything printed
# before the first section (login banners, shell startup noise) is not ours.
# Exit code: 0 unless bash itself fails; problems are reported inside sections.
set -uo pipefail
export LC_ALL=C

readonly REQUIRED_FIELDS="index,name,memory.total,memory.used,driver_version"
readonly OPTIONAL_FIELDS="mig.mode.current"

section() {
  printf '\n@@fleetroute:%s@@\n' "$1"
}

# Print "kind target" for a path: missing, file, dir, symlink TARGET or other.
describe_path() {
  local path="$1"
  if [[ -L "${path}" ]]; then
    printf 'symlink %s\n' "$(readlink -- "${path}")"
  elif [[ -f "${path}" ]]; then
    printf 'file\n'
  elif [[ -d "${path}" ]]; then
    printf 'dir\n'
  elif [[ -e "${path}" ]]; then
    printf 'other\n'
  else
    printf 'missing\n'
  fi
}

checksum() {
  if [[ -f "$1" && -r "$1" ]]; then
    sha256sum -- "$1" | cut -d ' ' -f 1
  else
    printf '%s\n' '-'
  fi
}

inode() {
  stat -L -c '%d:%i' -- "$1" 2>/dev/null || printf '%s\n' '-'
}

# Describe a directory as "state owner mode", with state one of missing, dir, symlink, other.
describe_dir() {
  local path="$1"
  if [[ -L "${path}" ]]; then
    printf 'symlink - -\n'
  elif [[ -d "${path}" ]]; then
    printf 'dir %s\n' "$(stat -c '%U %a' -- "${path}")"
  elif [[ -e "${path}" ]]; then
    printf 'other - -\n'
  else
    printf 'missing - -\n'
  fi
}

probe_gpus() {
  local nvidia_smi="$1" fields="${REQUIRED_FIELDS},${OPTIONAL_FIELDS}" output status
  if ! command -v "${nvidia_smi}" >/dev/null 2>&1; then
    section "nvidia-smi missing"
    return
  fi
  output="$("${nvidia_smi}" --query-gpu="${fields}" --format=csv,noheader,nounits 2>&1)"
  status=$?
  if [[ "${status}" -ne 0 && "${output}" == *"is not a valid field"* ]]; then
    fields="${REQUIRED_FIELDS}"
    output="$("${nvidia_smi}" --query-gpu="${fields}" --format=csv,noheader,nounits 2>&1)"
    status=$?
  fi
  section "nvidia-smi exit=${status} fields=${fields}"
  printf '%s\n' "${output}"
}

probe_install() {
  local binary="$1" real="$2" router="$3" probe_tool="$4" run_as="$5" log_dir="$6" lock_dir="$7" tmpfiles="$8"
  section "state"
  printf 'binary=%s\n' "$(describe_path "${binary}")"
  printf 'binary_sha256=%s\n' "$(checksum "${binary}")"
  printf 'binary_inode=%s\n' "$(inode "${binary}")"
  printf 'real=%s\n' "$(describe_path "${real}")"
  printf 'real_sha256=%s\n' "$(checksum "${real}")"
  printf 'real_inode=%s\n' "$(inode "${real}")"
  printf 'real_executable=%s\n' "$([[ -x "${real}" ]] && echo yes || echo no)"
  printf 'router=%s\n' "$(describe_path "${router}")"
  printf 'router_sha256=%s\n' "$(checksum "${router}")"
  printf 'probe_tool=%s\n' "$(command -v -- "${probe_tool}" || echo missing)"
  printf 'run_as_uid=%s\n' "$(id -u -- "${run_as}" 2>/dev/null || echo missing)"
  printf 'log_dir=%s\n' "$(describe_dir "${log_dir}")"
  printf 'lock_dir=%s\n' "$(describe_dir "${lock_dir}")"
  printf 'tmpfiles_sha256=%s\n' "$(checksum "${tmpfiles}")"
  printf 'user=%s\n' "$(id -un)"
}

main() {
  local nvidia_smi="$1" binary="$2" real="$3" router="$4" manifest="$5"
  local probe_tool="$6" run_as="$7" log_dir="$8" lock_dir="$9" send_router="${10}" tmpfiles="${11}"
  probe_gpus "${nvidia_smi}"
  section "meminfo"
  grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
  probe_install "${binary}" "${real}" "${router}" "${probe_tool}" "${run_as}" "${log_dir}" "${lock_dir}" "${tmpfiles}"
  section "manifest"
  if [[ -f "${manifest}" ]]; then
    cat -- "${manifest}"
  fi
  if [[ "${send_router}" == 1 && -f "${router}" ]]; then
    section "router"
    cat -- "${router}"
  fi
  section "end"
}

main "$@"
