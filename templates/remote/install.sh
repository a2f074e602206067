# Apply one install or uninstall action of the binary-wrapper pattern on a host.
#
# Run as: bash -c "$(cat install.sh)" fleetroute-install ACTION BINARY REAL ROUTER \
#           ROUTER_SHA256 EXPECTED_STATE STATE_DIR MANIFEST LOG_DIR LOCK_DIR RUN_AS STAMP \
#           TMPFILES_PATH TMPFILES_TEXT LOG_FILE ALLOW_WORLD_WRITABLE_PARENT
# with the router text on stdin for actions that write it. TMPFILES_TEXT is the
# tmpfiles.d entry to keep at TMPFILES_PATH; empty means none (the file is removed). The caller probed the
# host first and chose ACTION; EXPECTED_STATE is what it saw at BINARY, so a host
# that changed in between is left alone. ALLOW_WORLD_WRITABLE_PARENT is 1 to accept a
# log or lock directory whose parent directory every user may write to, else 0.
#
# Actions: fresh, resume, update-router, adopt-upgrade, adopt-through-link, dirs
#          (install side); restore, restore-through-link, detach, clean (uninstall side).
# The *-through-link actions handle a workload build that was copied onto BINARY
# (cp, curl -o) and so written through the symlink into the router file.
# Invariant: BINARY always exists and runs the workload, directly or through the
# router, because every replacement is a rename(2) over the old name.
#
# Exit codes:
#   0  done
#   2  bad usage
#   3  BINARY changed since the probe
#   4  another fleetroute run kept the host lock for LOCK_WAIT_SECONDS
#   5  the router upload is corrupt or not valid bash
#   6  a path is unsafe: a symlink where a directory belongs, a parent directory
#      owned by another user, or a world-writable parent that was not allowed
set -euo pipefail
export LC_ALL=C
umask 022

readonly LOCK_WAIT_SECONDS=60
TMP_FILE=""

die() {
  local code="$1"
  shift
  printf 'fleetroute: %s\n' "$*" >&2
  exit "${code}"
}

cleanup() {
  if [[ -n "${TMP_FILE}" ]]; then
    rm -f -- "${TMP_FILE}"
  fi
}

# Print what is at a path, in the form the deploy probe reports it.
path_state() {
  local path="$1"
  if [[ -L "${path}" ]]; then
    printf 'symlink:%s' "$(readlink -- "${path}")"
  elif [[ -e "${path}" ]]; then
    stat -L -c 'file:%d:%i' -- "${path}"
  else
    printf 'missing'
  fi
}

take_host_lock() {
  local state_dir="$1" name="$2" lock_fd
  mkdir -p -- "${state_dir}"
  exec {lock_fd}>>"${state_dir}/.${name}.lock"
  if ! flock -w "${LOCK_WAIT_SECONDS}" "${lock_fd}"; then
    die 4 "another fleetroute run has held the lock ${state_dir}/.${name}.lock for ${LOCK_WAIT_SECONDS} s; wait for it to finish and rerun"
  fi
}

check_unchanged() {
  local binary="$1" expected="$2" actual
  actual="$(path_state "${binary}")"
  if [[ "${actual}" != "${expected}" ]]; then
    die 3 "${binary} changed since the probe (expected ${expected}, found ${actual}); rerun"
  fi
}

# Write stdin to ROUTER atomically: temporary file in the same directory, checksum, bash -n, chmod, rename.
write_router() {
  local router="$1" expected_sha="$2" actual_sha
  mkdir -p -- "$(dirname -- "${router}")"
  TMP_FILE="$(mktemp -- "${router}.XXXXXX")"
  cat >"${TMP_FILE}"
  actual_sha="$(sha256sum -- "${TMP_FILE}" | cut -d ' ' -f 1)"
  if [[ "${actual_sha}" != "${expected_sha}" ]]; then
    die 5 "router upload is corrupt: sha256 ${actual_sha}, expected ${expected_sha}"
  fi
  if ! bash -n -- "${TMP_FILE}"; then
    die 5 "rendered router is not valid bash"
  fi
  chmod 0755 -- "${TMP_FILE}"
  mv -f -T -- "${TMP_FILE}" "${router}"
  TMP_FILE=""
}

# Give SOURCE a second name TARGET: a hard link, or a copy renamed into place.
keep_as() {
  local source="$1" target="$2"
  if ln -- "${source}" "${target}" 2>/dev/null; then
    return
  fi
  TMP_FILE="${target}.fleetroute-tmp"
  cp -p -- "${source}" "${TMP_FILE}"
  mv -f -T -- "${TMP_FILE}" "${target}"
  TMP_FILE=""
}

link_to_router() {
  local binary="$1" router="$2"
  TMP_FILE="${binary}.fleetroute-link"
  ln -sfn -- "${router}" "${TMP_FILE}"
  mv -f -T -- "${TMP_FILE}" "${binary}"
  TMP_FILE=""
}

# Reject a directory path that a user other than root and OWNER could redirect.
# Every existing directory above DIR must be owned by root or OWNER, and a symlink
# there must be owned by root. DIR's parent must not be world-writable unless ALLOW
# is 1. Components that do not exist yet are created by mkdir -p as root, mode 0755.
check_dir_path() {
  local dir="$1" owner="$2" allow="$3" path="" part uid owner_uid parent mode index
  local -a parts
  owner_uid="$(id -u -- "${owner}")"
  IFS='/' read -r -a parts <<<"${dir#/}"
  for ((index = 0; index < ${#parts[@]} - 1; index++)); do
    part="${parts[index]}"
    if [[ -z "${part}" ]]; then
      continue
    fi
    path+="/${part}"
    if [[ ! -e "${path}" && ! -L "${path}" ]]; then
      break
    fi
    uid="$(stat -c '%u' -- "${path}")"
    if [[ -L "${path}" && "${uid}" != 0 ]]; then
      die 6 "${path} is a symlink owned by uid ${uid}, not root; fleetroute does not follow it to create ${dir}. Remove it and rerun"
    fi
    if [[ "${uid}" != 0 && "${uid}" != "${owner_uid}" ]]; then
      die 6 "${path} is owned by uid ${uid}, neither root nor ${owner}, so that user could redirect ${dir}; fix its owner or choose another directory"
    fi
  done
  parent="$(dirname -- "${dir}")"
  if [[ "${allow}" != 1 && -d "${parent}" ]]; then
    mode="$(stat -L -c '%a' -- "${parent}")"
    if (((8#${mode} & 8#2) != 0)); then
      die 6 "${parent}, the parent of ${dir}, is world-writable (mode ${mode}), so another user could plant a link there; choose another directory or set allow_world_writable_parent: true"
    fi
  fi
}

ensure_dir() {
  local dir="$1" owner="$2" mode="$3" allow="$4"
  check_dir_path "${dir}" "${owner}" "${allow}"
  if [[ -L "${dir}" ]]; then
    die 6 "${dir} is a symlink; fleetroute does not write through links it did not create. Remove it and rerun"
  fi
  mkdir -p -- "${dir}"
  if [[ "$(stat -c '%U' -- "${dir}")" != "${owner}" ]]; then
    chown -- "${owner}:" "${dir}"
  fi
  chmod "${mode}" -- "${dir}"
}

# Keep the tmpfiles.d entry at PATH equal to TEXT, or remove it when TEXT is empty.
sync_tmpfiles() {
  local path="$1" text="$2"
  if [[ -z "${text}" ]]; then
    rm -f -- "${path}"
    return
  fi
  if [[ -f "${path}" && "$(cat -- "${path}")"$'\n' == "${text}" ]]; then
    return
  fi
  mkdir -p -- "$(dirname -- "${path}")"
  TMP_FILE="$(mktemp -- "${path}.XXXXXX")"
  printf '%s' "${text}" >"${TMP_FILE}"
  chmod 0644 -- "${TMP_FILE}"
  mv -f -T -- "${TMP_FILE}" "${path}"
  TMP_FILE=""
}

# Give the lock files in DIR and LOG (with its rotations) to OWNER, so that a
# change of run_as does not leave the router unable to open files a former user made.
give_files() {
  local dir="$1" log="$2" owner="$3"
  find "${dir}" "$(dirname -- "${log}")" -maxdepth 1 -type f \
    \( -name '*.lock' -o -name "$(basename -- "${log}")*" \) ! -user "${owner}" \
    -exec chown -- "${owner}:" {} +
}

write_manifest() {
  local manifest="$1" binary="$2" real="$3" router="$4" router_sha="$5" run_as="$6" log_dir="$7" lock_dir="$8"
  TMP_FILE="$(mktemp -- "${manifest}.XXXXXX")"
  {
    printf 'binary=%s\n' "${binary}"
    printf 'real=%s\n' "${real}"
    printf 'real_sha256=%s\n' "$(sha256sum -- "${real}" | cut -d ' ' -f 1)"
    printf 'router=%s\n' "${router}"
    printf 'router_sha256=%s\n' "${router_sha}"
    printf 'run_as=%s\n' "${run_as}"
    printf 'log_dir=%s\n' "${log_dir}"
    printf 'lock_dir=%s\n' "${lock_dir}"
    printf 'installed_at=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"${TMP_FILE}"
  chmod 0644 -- "${TMP_FILE}"
  mv -f -T -- "${TMP_FILE}" "${manifest}"
  TMP_FILE=""
}

main() {
  [[ $# -eq 16 ]] || die 2 "usage: ACTION BINARY REAL ROUTER ROUTER_SHA256 EXPECTED_STATE STATE_DIR MANIFEST LOG_DIR LOCK_DIR RUN_AS STAMP TMPFILES_PATH TMPFILES_TEXT LOG_FILE ALLOW_WORLD_WRITABLE_PARENT"
  local action="$1" binary="$2" real="$3" router="$4" router_sha="$5" expected="$6"
  local state_dir="$7" manifest="$8" log_dir="$9" lock_dir="${10}" run_as="${11}" stamp="${12}"
  local tmpfiles_path="${13}" tmpfiles_text="${14}" log_file="${15}" allow_world_writable="${16}"
  trap cleanup EXIT

  take_host_lock "${state_dir}" "$(basename -- "${binary}")"
  check_unchanged "${binary}" "${expected}"

  case "${action}" in
    fresh | resume | update-router | adopt-upgrade | adopt-through-link | dirs)
      ensure_dir "${log_dir}" "${run_as}" 0755 "${allow_world_writable}"
      ensure_dir "${lock_dir}" "${run_as}" 0750 "${allow_world_writable}"
      sync_tmpfiles "${tmpfiles_path}" "${tmpfiles_text}"
      give_files "${lock_dir}" "${log_file}" "${run_as}"
      ;;
  esac

  case "${action}" in
    fresh)
      write_router "${router}" "${router_sha}"
      keep_as "${binary}" "${real}"
      link_to_router "${binary}" "${router}"
      ;;
    resume)
      write_router "${router}" "${router_sha}"
      link_to_router "${binary}" "${router}"
      ;;
    update-router)
      write_router "${router}" "${router_sha}"
      ;;
    adopt-upgrade)
      write_router "${router}" "${router_sha}"
      mv -f -T -- "${real}" "${real}.fleetroute-backup-${stamp}"
      keep_as "${binary}" "${real}"
      link_to_router "${binary}" "${router}"
      ;;
    adopt-through-link)
      # A run cut off after the rename below left REAL and the router as one file.
      if [[ ! "${router}" -ef "${real}" ]]; then
        keep_as "${router}" "${real}.fleetroute-new"
        keep_as "${real}" "${real}.fleetroute-backup-${stamp}"
        mv -f -T -- "${real}.fleetroute-new" "${real}"
      fi
      rm -f -- "${real}.fleetroute-new"
      write_router "${router}" "${router_sha}"
      ;;
    dirs) ;;
    restore-through-link)
      mv -f -T -- "${router}" "${binary}"
      if [[ -e "${real}" ]]; then
        mv -f -T -- "${real}" "${real}.fleetroute-backup-${stamp}"
      fi
      rm -f -- "${manifest}" "${tmpfiles_path}"
      ;;
    restore)
      mv -f -T -- "${real}" "${binary}"
      rm -f -- "${router}" "${manifest}" "${tmpfiles_path}"
      ;;
    detach)
      mv -f -T -- "${real}" "${real}.fleetroute-backup-${stamp}"
      rm -f -- "${router}" "${manifest}" "${tmpfiles_path}"
      ;;
    clean)
      rm -f -- "${router}" "${manifest}" "${tmpfiles_path}"
      ;;
    *)
      die 2 "unknown action ${action}"
      ;;
  esac

  case "${action}" in
    fresh | resume | update-router | adopt-upgrade | adopt-through-link | dirs)
      write_manifest "${manifest}" "${binary}" "${real}" "${router}" "${router_sha}" "${run_as}" "${log_dir}" "${lock_dir}"
      ;;
  esac
}

main "$@"
