# Helpers shared by the lab's simulated nvidia-smi and whisper-ctranslate2.
# Sourced, not executed: the caller sets fleetlab_root ("" on a namespaced host,
# the host's prefix directory otherwise) before sourcing this file, and reads the
# globals that the functions set, which shellcheck cannot see from here.
# shellcheck shell=bash disable=SC2034,SC2154

fleetlab_share="$fleetlab_root/usr/local/share/fleetlab"
fleetlab_spec="$fleetlab_share/nvidia-smi.tsv"
fleetlab_vram_dir="$fleetlab_share/vram"

# Load the GPU spec into spec_driver, spec_banner, spec_fail_code, spec_fail_message
# and the arrays gpu_name, gpu_total, gpu_used_base and gpu_uuid.
# Each spec line is KEY<TAB>FIELD..., as NvidiaSmiSpec.render in lab/hosts.py writes it.
# Returns 1 when the spec file cannot be read.
fleetlab_load_spec() {
    spec_driver="" spec_banner="" spec_fail_code="" spec_fail_message=""
    gpu_name=() gpu_total=() gpu_used_base=() gpu_uuid=()
    [[ -r $fleetlab_spec ]] || return 1

    local key a b c d
    while IFS=$'\t' read -r key a b c d; do
        case $key in
            driver) spec_driver=$a ;;
            banner) spec_banner=$a ;;
            fail) spec_fail_code=$a spec_fail_message=$b ;;
            gpu)
                gpu_name+=("$a")
                gpu_total+=("$b")
                gpu_used_base+=("$c")
                gpu_uuid+=("$d")
                ;;
        esac
    done <"$fleetlab_spec"
}

# Print the start time of a live, non-zombie process (field 22 of /proc/PID/stat,
# in clock ticks since boot). Returns 1 when the process is gone or a zombie.
fleetlab_proc_start() {
    local stat fields
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    # The command name in field 2 may contain spaces, so split after its closing bracket.
    stat=${stat##*) }
    read -ra fields <<<"$stat"
    [[ ${fields[0]} != Z ]] || return 1
    printf '%s\n' "${fields[19]}"
}

# Fill the array vram_in_use, indexed by GPU index, with the MB registered by
# running workloads. A registration is the file vram/PID containing
# "START_TIME GPU_INDEX MB". It counts only while that PID runs with that start time,
# so a killed workload stops counting even though its file remains.
fleetlab_sum_vram() {
    vram_in_use=()
    local file pid start gpu mb
    for file in "$fleetlab_vram_dir"/*; do
        [[ -f $file ]] || continue
        pid=${file##*/}
        [[ $pid =~ ^[0-9]+$ ]] || continue
        read -r start gpu mb <"$file" || continue
        [[ "$(fleetlab_proc_start "$pid")" == "$start" ]] || continue
        vram_in_use[gpu]=$((${vram_in_use[gpu]:-0} + mb))
    done
}

# Print memory.used of GPU $1 in MB: the spec's base value plus vram_in_use,
# or the base value unchanged when it is not a number (for example "[N/A]").
# Call fleetlab_sum_vram first.
fleetlab_memory_used() {
    local base=${gpu_used_base[$1]}
    if [[ $base =~ ^[0-9]+$ ]]; then
        printf '%s\n' "$((base + ${vram_in_use[$1]:-0}))"
    else
        printf '%s\n' "$base"
    fi
}
