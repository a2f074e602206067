# Keep fleetroute's MemoryMax drop-in of one systemd unit, and print the unit's files.
#
# Run as: bash -c "$(cat systemd.sh)" fleetroute-systemd MODE UNIT DROPIN_PATH DROPIN_TEXT UNIT_DIR...
# MODE: apply (write DROPIN_TEXT to DROPIN_PATH when it differs), check (report
# only), remove (delete DROPIN_PATH), check-remove (report only).
# Output: sections that start with a line "@@fleetroute:NAME@@", in this order:
#   "dropin result=R", where R is written, unchanged, would-write, removed,
#     would-remove or absent.
#   "reload status=S" after a change, where S is done, failed or skipped (systemd
#     not running).
#   "file PATH" with the text of the unit file (the first UNIT found in the
#     UNIT_DIRs), then one per UNIT.d/*.conf in them.
#   "end".
# Exit code: 0, or 1 when the drop-in cannot be written or removed (stderr says why).
set -euo pipefail
export LC_ALL=C

section() {
  printf '\n@@fleetroute:%s@@\n' "$1"
}

write_dropin() {
  local path="$1" text="$2" tmp
  mkdir -p -- "$(dirname -- "${path}")"
  tmp="$(mktemp -- "${path}.XXXXXX")"
  printf '%s' "${text}" >"${tmp}"
  chmod 0644 -- "${tmp}"
  mv -f -- "${tmp}" "${path}"
}

remove_dropin() {
  local path="$1"
  rm -f -- "${path}"
  rmdir -- "$(dirname -- "${path}")" 2>/dev/null || true
}

# Run systemctl daemon-reload when systemd is the running init, so it reads the change.
reload_systemd() {
  if [[ ! -d /run/systemd/system ]] || ! command -v systemctl >/dev/null 2>&1; then
    section "reload status=skipped"
  elif systemctl daemon-reload; then
    section "reload status=done"
  else
    section "reload status=failed"
  fi
}

sync_dropin() {
  local mode="$1" path="$2" text="$3" current="" result
  if [[ -f "${path}" ]]; then
    current="$(cat -- "${path}"; printf x)"
    current="${current%x}"
  fi
  case "${mode}" in
    apply | check)
      if [[ -f "${path}" && "${current}" == "${text}" ]]; then
        result=unchanged
      elif [[ "${mode}" == apply ]]; then
        write_dropin "${path}" "${text}"
        result=written
      else
        result=would-write
      fi
      ;;
    remove | check-remove)
      if [[ ! -e "${path}" ]]; then
        result=absent
      elif [[ "${mode}" == remove ]]; then
        remove_dropin "${path}"
        result=removed
      else
        result=would-remove
      fi
      ;;
    *)
      printf 'fleetroute-systemd: invalid mode %s\n' "${mode}" >&2
      return 1
      ;;
  esac
  section "dropin result=${result}"
  if [[ "${result}" == written || "${result}" == removed ]]; then
    reload_systemd
  fi
}

print_unit_files() {
  local unit="$1" dir file
  shift
  for dir in "$@"; do
    if [[ -f "${dir}/${unit}" ]]; then
      section "file ${dir}/${unit}"
      cat -- "${dir}/${unit}"
      break
    fi
  done
  for dir in "$@"; do
    for file in "${dir}/${unit}.d"/*.conf; do
      if [[ -f "${file}" ]]; then
        section "file ${file}"
        cat -- "${file}"
      fi
    done
  done
}

main() {
  local mode="$1" unit="$2" path="$3" text="$4"
  shift 4
  sync_dropin "${mode}" "${path}" "${text}"
  print_unit_files "${unit}" "$@"
  section "end"
}

main "$@"
