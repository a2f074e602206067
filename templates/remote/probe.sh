# Probe one host for deploy: GPUs, RAM, tools and the install state of one workload.
#
# Run as: bash -c "$(cat probe.sh)" fleetroute-probe NVIDIA_SMI BINARY REAL ROUTER \
#           MANIFEST PROBE_TOOL RUN_AS LOG_DIR LOCK_DIR SEND_ROUTER TMPFILES LOG_FILE
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

# Count the lock files in DIR and the log file LOG (with its rotations) not owned by USER.
count_foreign_files() {
  local dir="$1" log="$2" user="$3"
  if ! id -u -- "${user}" >/dev/null 2>&1; then
    printf '0\n'
    return
  fi
  find "${dir}" "$(dirname -- "${log}")" -maxdepth 1 -type f \
    \( -name '*.lock' -o -name "$(basename -- "${log}")*" \) ! -user "${user}" 2>/dev/null | wc -l
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
  # MIG instances are not rows of --query-gpu; only "nvidia-smi -L" lists them with their profiles.
  if grep -qE ', Enabled$' <<<"${output}"; then
    output="$("${nvidia_smi}" -L 2>&1)"
    section "nvidia-smi-list exit=$?"
    printf '%s\n' "${output}"
  fi
}

# Print yes when FILE starts like a router fleetroute rendered, no for any other file,
# and - when there is no regular file. A workload build copied onto BINARY (cp, curl -o)
# writes through the symlink into the router file, and is then "no".
is_fleetroute_router() {
  local file="$1"
  if [[ ! -f "${file}" || -L "${file}" ]]; then
    printf -- '-'
  elif head -n 3 -- "${file}" 2>/dev/null | grep -q '^# fleetroute router:'; then
    printf 'yes'
  else
    printf 'no'
  fi
}

probe_install() {
  local binary="$1" real="$2" router="$3" probe_tool="$4" run_as="$5" log_dir="$6" lock_dir="$7" tmpfiles="$8"
  local log_file="$9"
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
  printf 'router_is_fleetroute=%s\n' "$(is_fleetroute_router "${router}")"
  printf 'probe_tool=%s\n' "$(command -v -- "${probe_tool}" || echo missing)"
  printf 'run_as_uid=%s\n' "$(id -u -- "${run_as}" 2>/dev/null || echo missing)"
  printf 'log_dir=%s\n' "$(describe_dir "${log_dir}")"
  printf 'lock_dir=%s\n' "$(describe_dir "${lock_dir}")"
  printf 'log_parent=%s\n' "$(describe_dir "$(dirname -- "${log_dir}")")"
  printf 'lock_parent=%s\n' "$(describe_dir "$(dirname -- "${lock_dir}")")"
  printf 'tmpfiles_sha256=%s\n' "$(checksum "${tmpfiles}")"
  printf 'foreign_files=%s\n' "$(count_foreign_files "${lock_dir}" "${log_file}" "${run_as}")"
  printf 'user=%s\n' "$(id -un)"
}

# Hold the host lock shared while reading the install state, so that a deploy or
# uninstall running at the same time (install.sh holds it exclusively) cannot show
# a state half-way through its steps. Without the state directory there is nothing
# installed to protect, and a lock that cannot be opened is skipped.
lock_install_state() {
  local manifest="$1" binary="$2" lock_fd
  local lock="${manifest%/*}/.${binary##*/}.lock"
  if [[ -d "${manifest%/*}" ]] && { exec {lock_fd}>>"${lock}"; } 2>/dev/null; then
    flock -s -w 60 "${lock_fd}" || true
  fi
}

main() {
  local nvidia_smi="$1" binary="$2" real="$3" router="$4" manifest="$5"
  local probe_tool="$6" run_as="$7" log_dir="$8" lock_dir="$9" send_router="${10}" tmpfiles="${11}"
  local log_file="${12}"
  probe_gpus "${nvidia_smi}"
  section "meminfo"
  grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
  lock_install_state "${manifest}" "${binary}"
  probe_install "${binary}" "${real}" "${router}" "${probe_tool}" "${run_as}" "${log_dir}" "${lock_dir}" \
    "${tmpfiles}" "${log_file}"
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
