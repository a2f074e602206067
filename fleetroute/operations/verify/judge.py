"""Turn the facts and verify.sh's report of one host into check verdicts.

Pure functions: they read what the host reported and the inventory's settings, and
never touch the host.
"""

from __future__ import annotations

import posixpath

from fleetroute.facts.host import HostFacts, InstallState
from fleetroute.operations.verify.checks import DEGRADED, FAIL, PASS, SKIPPED, Check
from fleetroute.operations.verify.inputs import LARGE, SMALL
from fleetroute.operations.verify.logline import RouterLogLine, parse_log_line
from fleetroute.operations.verify.remote import JobResult, RemoteRun, Sample
from fleetroute.settings import HostSettings

# A GPU job must raise the GPU memory in use by more than this many MB, and a CPU
# job must not. A CUDA context alone takes a few hundred MB, while display servers
# and monitoring tools on a busy host move memory.used by a few MB.
MEMORY_TOLERANCE_MB = 100
# Interval at which verify.sh samples nvidia-smi during a --full job (its SAMPLE_SECONDS).
SAMPLE_INTERVAL_MS = 200
# How much longer than a job that got a slot a blocked job may take to exit, beyond
# block_wait_seconds. Measured against that job rather than as a fixed time, because
# both start the router and probe the same input, which takes longer on a loaded host.
BLOCKED_EXIT_SLACK_MS = 1000

_INPUT_LABELS = {SMALL: "small input", LARGE: "large input"}


def unsafe_to_run_reason(state: InstallState, settings: HostSettings, rendered_sha256: str) -> str:
    """Return why verify must not run jobs through BINARY, or "" when it may.

    Jobs run only when BINARY links to the router and the router is one that
    fleetroute wrote (its checksum is in the manifest or matches the rendered
    router), because anything else could run the workload unrouted.
    """
    binary, router = settings.workload_binary, settings.router_path
    if state.binary.kind != "symlink" or state.binary.target != router:
        return f"{binary} does not link to the router, so a job could run the workload unrouted"
    if state.router.kind != "file":
        return f"the router {router} is missing"
    if state.router_sha256 not in (state.manifest.get("router_sha256"), rendered_sha256):
        return f"the router {router} is not one that fleetroute wrote"
    return ""


def judge_install(facts: HostFacts, remote: RemoteRun, settings: HostSettings, rendered_sha256: str) -> Check:
    """Judge the install: BINARY links to the deployed router, BINARY-real runs, directories are writable.

    Fails for a removed router and for a BINARY replaced since the deploy (drift,
    fixed by ``fleetroute deploy``). Fails too for a router edited by hand or
    outdated against the inventory, a missing real binary, and a log or lock
    directory or file that run_as cannot write. Skipped when verify could not act
    as run_as.
    """
    state = facts.install
    problems = wrapper_problems(state, settings, rendered_sha256) + writable_problems(remote.writable, settings)
    evidence = _install_evidence(state, remote, settings, rendered_sha256)
    if problems:
        return Check(FAIL, "; ".join(problems), evidence)
    if remote.access.get("method", "none") == "none":
        reason = remote.access.get("reason", "verify could not act as run_as")
        return Check(SKIPPED, f"directories not checked: {reason}", evidence)
    return Check(PASS, "", evidence)


def wrapper_problems(state: InstallState, settings: HostSettings, rendered_sha256: str) -> list[str]:
    """Return what is wrong with BINARY, the router and BINARY-real, each with its fix."""
    binary, real, router = settings.workload_binary, settings.real_binary, settings.router_path
    manifest_sha = state.manifest.get("router_sha256")
    kind = state.binary.kind
    if kind == "file" and state.manifest:
        return [
            f"drift: {binary} is a regular file again, so something replaced the router link since the "
            f"deploy (probably a package upgrade) and jobs bypass the router; run fleetroute deploy to wrap it again"
        ]
    if kind == "file":
        return [f"not deployed: {binary} is the unwrapped workload and the host has no manifest; run fleetroute deploy"]
    if kind == "missing":
        return [f"{binary} not found; reinstall the workload, then run fleetroute deploy"]
    if kind != "symlink" or state.binary.target != router:
        target = f" to {state.binary.target}" if kind == "symlink" else ""
        return [f"{binary} is a {kind}{target}, not a symlink to the router {router}; run fleetroute deploy"]

    problems = []
    if state.router.kind != "file":
        problems.append(f"the router {router} is missing (removed by hand?), so every job fails; run fleetroute deploy")
    elif not state.router_is_fleetroute:
        problems.append(
            f"the router {router} is not a fleetroute router: a workload build was probably copied onto {binary} "
            f"(cp, curl -o), which writes through the link, so jobs run it unrouted; run fleetroute deploy to keep "
            f"it as the real binary"
        )
    elif manifest_sha and state.router_sha256 != manifest_sha:
        problems.append(
            f"the router {router} differs from the one deploy installed (sha256 {state.router_sha256[:12]}, "
            f"manifest {manifest_sha[:12]}): it was edited by hand; run fleetroute deploy"
        )
    elif state.router_sha256 != rendered_sha256:
        problems.append(
            f"the router {router} is outdated: the inventory's settings render a different router "
            f"(settings or the fleetroute version changed since the deploy); run fleetroute deploy"
        )
    if not state.manifest:
        problems.append(f"the manifest {settings.manifest_path} is missing; run fleetroute deploy")
    if state.real.kind != "file" or not state.real_executable:
        problems.append(
            f"the real binary {real} is {'not executable' if state.real.kind == 'file' else state.real.kind}, "
            f"so every job fails; reinstall the workload to {real}"
        )
    return problems


def writable_problems(writable: dict[str, str], settings: HostSettings) -> list[str]:
    """Return the log and lock paths that run_as cannot write, each with its fix."""
    user = settings.run_as
    log_dir = posixpath.dirname(settings.router_log)
    problems = []
    if writable.get("log_dir") == "missing":
        problems.append(f"the log directory {log_dir} is missing; run fleetroute deploy")
    elif writable.get("log_dir") == "no":
        problems.append(
            f"the log directory {log_dir} is not writable by {user}, so the router cannot log; "
            f"run fleetroute deploy to restore its owner"
        )
    if writable.get("log_file") == "no":
        problems.append(
            f"the router log {settings.router_log} is not writable by {user}, so the router cannot log; "
            f"chown it to {user}"
        )
    if writable.get("lock_dir") == "missing":
        problems.append(f"the lock directory {settings.lock_dir} is missing, so every job fails; run fleetroute deploy")
    elif writable.get("lock_dir") == "no":
        problems.append(
            f"the lock directory {settings.lock_dir} is not writable by {user}, so every job fails with a "
            f"configuration error; run fleetroute deploy to restore its owner and mode"
        )
    for key, value in writable.items():
        if key.startswith("lock_file ") and value == "no":
            path = posixpath.join(settings.lock_dir, key.removeprefix("lock_file "))
            problems.append(f"the slot lock file {path} is not writable by {user}; remove it or chown it to {user}")
    return problems


def _install_evidence(state: InstallState, remote: RemoteRun, settings: HostSettings, rendered_sha256: str) -> dict:
    manifest_real = state.manifest.get("real_sha256")
    return {
        "binary": f"{state.binary.kind} {state.binary.target}".strip(),
        "router": settings.router_path,
        "router_state": state.router.kind,
        "router_sha256": state.router_sha256,
        "manifest_router_sha256": state.manifest.get("router_sha256"),
        "rendered_router_sha256": rendered_sha256,
        "real": state.real.kind,
        "real_executable": state.real_executable,
        "real_sha256_matches_manifest": None if manifest_real is None else manifest_real == state.real_sha256,
        "manifest": settings.manifest_path if state.manifest else None,
        "run_as": settings.run_as,
        "access": remote.access,
        "writable": remote.writable,
    }


def judge_gpus(facts: HostFacts, settings: HostSettings) -> Check:
    """Judge the GPU inventory against ``expect_gpus``.

    Degraded when nvidia-smi fails or finds no GPU, or when it finds fewer GPUs than
    expected, the way a scheduler drains such a node. Fails when it finds more than
    expected, because the inventory is then out of date.
    """
    gpu = facts.gpu
    expected = settings.expect_gpus
    evidence = {"gpus": [g.to_dict() for g in gpu.gpus], "expect_gpus": expected, "message": gpu.message}
    if not gpu.usable:
        return Check(DEGRADED, f"no usable GPU: {gpu.message}", evidence)
    found = len(gpu.gpus)
    if expected is not None and found < expected:
        return Check(DEGRADED, f"found {found} GPU(s), expected {expected} (expect_gpus)", evidence)
    if expected is not None and found > expected:
        return Check(FAIL, f"found {found} GPU(s), expected {expected}; update expect_gpus", evidence)
    return Check(PASS, "", evidence)


def judge_path(kind: str, remote: RemoteRun, settings: HostSettings, *, full: bool, skip_reason: str) -> Check:
    """Judge the GPU or CPU path check (``kind`` gpu or cpu) from its job.

    The job must be logged with the path's mode (``-DRYRUN`` unless ``full``), exit 0
    and get the path's device arguments. With ``full``, a GPU job must also raise
    GPU memory use and a CPU job must leave it flat.
    """
    input_name = SMALL if kind == "gpu" else LARGE
    early = _precondition(remote, input_name, skip_reason)
    if early is not None:
        return early
    job = remote.jobs.get(f"{kind}_path")
    if job is None:
        return Check(FAIL, "verify.sh did not report the job; rerun with -vv", _input_evidence(remote, input_name))
    expected_mode = kind.upper() + ("" if full else "-DRYRUN")
    problem, line = job_problem(job, expected_mode, 0, input_name, remote, settings)
    evidence = {**_input_evidence(remote, input_name), **job_evidence(job, line)}
    if problem:
        return Check(FAIL, problem, evidence)
    if full:
        return _judge_memory(kind, job, evidence)
    return Check(PASS, "", evidence)


def judge_blocking(kind: str, remote: RemoteRun, settings: HostSettings, *, skip_reason: str) -> Check:
    """Judge the blocking check of the GPU or CPU path (``kind`` gpu or cpu).

    With every slot of the path held, a dry-run job must log ``-BLOCKED-DRYRUN`` and
    exit with blocked_exit_code, no more than block_wait_seconds plus 1 s later than
    the same job takes once the slots are free again and it gets one. When
    on_gpu_full is cpu, a GPU job must first move to a free CPU slot while only the
    GPU slots are held.
    """
    input_name = SMALL if kind == "gpu" else LARGE
    early = _precondition(remote, input_name, skip_reason)
    if early is not None:
        return early
    path = kind.upper()
    name = f"{kind}_blocking"
    holders = remote.holders.get(name, {})
    before = {slot: state for slot, state in remote.slots.items() if slot.startswith(kind + ".")}
    evidence: dict = {**_input_evidence(remote, input_name), "slots_before": before, "holders": holders}
    not_held = holders_problem(holders, path)
    if not_held:
        return Check(FAIL, not_held, evidence)

    steps = [
        ("while_held", f"{path}-BLOCKED-DRYRUN", settings.blocked_exit_code),
        ("after_release", f"{path}-DRYRUN", 0),
    ]
    if kind == "gpu" and settings.on_gpu_full == "cpu":
        steps.insert(0, ("overflow", "CPU-DRYRUN", 0))
    jobs = {step: remote.jobs.get(f"{name}.{step}") for step, _, _ in steps}
    for step, mode, exit_code in steps:
        job = jobs[step]
        if job is None:
            return Check(FAIL, f"verify.sh did not report the {step} job; rerun with -vv", evidence)
        problem, line = job_problem(job, mode, exit_code, input_name, remote, settings)
        evidence[step] = job_evidence(job, line)
        problem = problem or _step_problem(step, job, line, jobs.get("after_release"), settings)
        if problem:
            return Check(FAIL, f"{_STEP_CONTEXT[step].format(path=path)}: {problem}", evidence)
    return Check(PASS, "", evidence)


_STEP_CONTEXT = {
    "overflow": "with every GPU slot held and on_gpu_full cpu",
    "while_held": "with every {path} slot held",
    "after_release": "after verify released the {path} slots",
}


def _step_problem(
    step: str, job: JobResult, line: RouterLogLine | None, after: JobResult | None, settings: HostSettings
) -> str:
    if step == "overflow" and line is not None and "gpu-full" not in line.reasons:
        return f"the job went to the CPU without the gpu-full reason (reason={line.reason})"
    if step != "while_held" or job.ms is None:
        return ""
    reference_ms = after.ms if after is not None and after.ms is not None else 0
    limit_ms = reference_ms + settings.block_wait_seconds * 1000 + BLOCKED_EXIT_SLACK_MS
    if job.ms > limit_ms:
        return (
            f"the blocked job took {job.ms} ms to exit, more than {limit_ms} ms ({reference_ms} ms for a job "
            f"that got a slot, plus block_wait_seconds, plus 1 s): the router waits for a slot"
        )
    return ""


def holders_problem(holders: dict[str, str], path: str) -> str:
    """Return why verify could not hold every slot of a path, or "" when it held them all."""
    problems = []
    for slot, state in holders.items():
        if state.startswith("busy"):
            owners = state.removeprefix("busy").strip() or "a process verify cannot see"
            problems.append(
                f"slot {slot} is held by another process ({owners}), so verify cannot hold every {path} "
                f"slot; let that job finish or stop the stuck holder, then rerun"
            )
        elif state != "held":
            problems.append(f"verify could not hold slot {slot}: {state.removeprefix('failed: ')}")
    if not holders:
        problems.append(f"verify.sh did not report its {path} slot holders; rerun with -vv")
    return "; ".join(problems)


def job_problem(
    job: JobResult, expected_mode: str, expected_exit: int, input_name: str, remote: RemoteRun, settings: HostSettings
) -> tuple[str, RouterLogLine | None]:
    """Return what is wrong with one job (or "") and its parsed router log line.

    The job must have run, finished in time, left a log line with ``expected_mode``,
    exited ``expected_exit`` and, unless blocked, got the path's device arguments.
    """
    if job.refused:
        return f"verify did not run the job: {job.refused}", None
    if job.timed_out:
        return f"the job did not finish within {(job.ms or 0) // 1000} s, so verify stopped it", None
    line = parse_log_line(job.log) if job.log else None
    if line is None:
        cause = ""
        if job.exit_code == settings.config_error_exit_code:
            cause = ", the router's exit code for a configuration error"
        return (
            f"the job left no router log line in {settings.router_log} (exit code {job.exit_code}{cause})"
            f"{_stderr_note(job)}",
            None,
        )
    if line.mode != expected_mode:
        return wrong_mode_problem(line, expected_mode, input_name, job, remote), line
    if job.exit_code != expected_exit:
        return f"the job exited {job.exit_code}, expected {expected_exit}{_stderr_note(job)}", line
    if "BLOCKED" not in expected_mode and not line.args.endswith(job.expected_args):
        return (
            f"the job got the arguments{line.args}, expected them to end with{job.expected_args}; "
            f"check gpu_args and cpu_args, then run fleetroute deploy",
            line,
        )
    return "", line


def wrong_mode_problem(
    line: RouterLogLine, expected_mode: str, input_name: str, job: JobResult, remote: RemoteRun
) -> str:
    """Explain why a job was logged with another mode than ``expected_mode``."""
    mode = line.mode.removesuffix("-DRYRUN")
    found = f"the router logged mode={line.mode}, expected mode={expected_mode}"
    if mode in ("GPU", "CPU"):
        return f"{found}: {_routed_problem(line, expected_mode, input_name, remote)}"

    label = _INPUT_LABELS[input_name]
    if mode.endswith("-BLOCKED"):
        path = mode.removesuffix("-BLOCKED")
        return f"{found}: every {path} slot was busy{_held_note(remote, path.lower())}"
    if mode.endswith("-CONFIG-ERROR"):
        return f"{found}: the router reported a configuration error ({line.reason}){_stderr_note(job)}"
    if mode == "UNKNOWN-FAILED":
        return f"{found}: the probe could not measure the {label} (reason={line.reason}) and on_unknown_metric is fail"
    return found


def _routed_problem(line: RouterLogLine, expected_mode: str, input_name: str, remote: RemoteRun) -> str:
    """Explain why a job got a slot on a path other than the expected one, or got one at all."""
    mode = line.mode.removesuffix("-DRYRUN")
    label = _INPUT_LABELS[input_name]
    if "BLOCKED" in expected_mode and not expected_mode.startswith(mode + "-"):
        return (
            f"the job went to the {mode} path (metric {line.metric}, the router's threshold {line.threshold}), "
            f"so verify could not fill the path it held; check that the threshold separates the inputs"
        )
    if "BLOCKED" in expected_mode:
        return (
            f"the job got slot {line.slot} although verify held every slot, so the slots do not limit jobs; "
            f"check the router's lock_dir"
        )
    if "gpu-full" in line.reasons:
        return f"every GPU slot was busy, so the {label} moved to the CPU (on_gpu_full: cpu){_held_note(remote, 'gpu')}"
    if line.metric == "unknown":
        return (
            f"the probe could not measure the {label} {line.input} (reason={line.reason}), "
            f"so on_unknown_metric sent it to the {mode}; run the probe by hand on it"
        )
    side = "not below" if mode == "CPU" else "below"
    return (
        f"the {label}'s metric {line.metric} is {side} the router's threshold {line.threshold} {line.unit}, "
        f"so both inputs route the same way; check threshold_value and verify_{input_name}_input"
    )


def job_evidence(job: JobResult, line: RouterLogLine | None) -> dict:
    """Return the evidence of one job: its log line, exit code, time taken and output."""
    evidence = {
        "log": job.log or None,
        "mode": line.mode if line else None,
        "metric": line.metric if line else None,
        "threshold": line.threshold if line else None,
        "slot": line.slot if line else None,
        "exit_code": job.exit_code,
        "ms": job.ms,
        "pid": job.pid,
        "stderr": job.stderr,
    }
    if job.stdout:
        evidence["stdout"] = job.stdout
    return evidence


def _judge_memory(kind: str, job: JobResult, evidence: dict) -> Check:
    samples = [sample for sample in job.samples if sample.total_mb is not None]
    evidence["gpu_memory_samples"] = [_sample_evidence(sample, job.samples[0]) for sample in job.samples]
    if not job.samples or job.samples[0].total_mb is None or len(samples) < 2:
        unusable = next((sample for sample in job.samples if sample.total_mb is None), None)
        return Check(SKIPPED, f"GPU memory use was not measured: {_unusable_sample(unusable)}", evidence)
    baseline = job.samples[0].total_mb or 0
    peak = max(sample.total_mb or 0 for sample in samples)
    rise = peak - baseline
    evidence.update({"gpu_memory_baseline_mb": baseline, "gpu_memory_peak_mb": peak, "gpu_memory_rise_mb": rise})
    if kind == "gpu" and rise <= MEMORY_TOLERANCE_MB:
        short = ""
        if (job.ms or 0) < 5 * SAMPLE_INTERVAL_MS:
            short = f"; the job ran only {job.ms} ms, and nvidia-smi is read every {SAMPLE_INTERVAL_MS} ms"
        return Check(
            FAIL,
            f"GPU memory use stayed flat while the GPU job ran ({baseline} MB before, {peak} MB at most): "
            f"the workload may ignore the GPU arguments{short}",
            evidence,
        )
    if kind == "cpu" and rise > MEMORY_TOLERANCE_MB:
        return Check(
            FAIL,
            f"GPU memory use rose by {rise} MB while the CPU job ran ({baseline} MB before, {peak} MB at most): "
            f"the workload used the GPU despite the CPU arguments",
            evidence,
        )
    return Check(PASS, "", evidence)


def _unusable_sample(sample: Sample | None) -> str:
    if sample is None:
        return "nvidia-smi was read fewer than twice"
    output = " ".join(sample.output.split())[:200]
    if sample.exit_code != 0:
        return f"nvidia-smi exited {sample.exit_code}: {output}"
    unknown = [str(index) for index, used in sample.used_mb.items() if used is None]
    if unknown:
        return f"nvidia-smi reports memory.used of GPU {', '.join(unknown)} as unknown ({output})"
    return f"nvidia-smi printed no GPU rows ({output})"


def _sample_evidence(sample: Sample, first: Sample) -> dict:
    return {
        "ms": sample.ms - first.ms,
        "exit_code": sample.exit_code,
        "used_mb": {str(index): used for index, used in sample.used_mb.items()},
    }


def _precondition(remote: RemoteRun, input_name: str, skip_reason: str) -> Check | None:
    """Return the verdict of a check that cannot judge a job: not run, or no usable input."""
    if skip_reason:
        return Check(SKIPPED, skip_reason)
    label = _INPUT_LABELS[input_name]
    info = remote.inputs.get(input_name)
    if info is None:
        return Check(SKIPPED, f"no {label}: verify.sh did not reach that step")
    evidence = _input_evidence(remote, input_name)
    if info.get("origin") == "failed":
        return Check(FAIL, f"{label}: {info.get('reason', 'not usable')}", evidence)
    if info.get("origin") == "skipped":
        return Check(SKIPPED, f"no {label}: {info.get('reason', '')}", evidence)
    return None


def _input_evidence(remote: RemoteRun, input_name: str) -> dict:
    info = remote.inputs.get(input_name, {})
    evidence = {"input": info.get("path"), "input_origin": info.get("origin")}
    if "ms" in info:
        evidence["input_made_ms"] = int(info["ms"])
    return evidence


def _held_note(remote: RemoteRun, kind: str) -> str:
    held = [f"{slot} {state.removeprefix('held').strip()}".strip() for slot, state in remote.slots.items()
            if slot.startswith(kind + ".") and state.startswith("held")]
    if not held:
        return ""
    return f" (held before verify started: {', '.join(held)})"


def _stderr_note(job: JobResult, limit: int = 300) -> str:
    text = " ".join(job.stderr.split())
    if len(text) > limit:
        text = "..." + text[-limit:].partition(" ")[2]
    return f"; stderr: {text}" if text else ""
