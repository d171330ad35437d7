"""The jail a patched recipe runs in: a bubblewrap process jail, or a Docker container.

:func:`jail_command` returns the argv that starts :mod:`trainer.recipe_child` (a single
file, bound alone: the harness, the data sets and the repository are not in the jail) with
these mounts and nothing else writable or readable of this host's project:

- ``/jail/recipe_child.py`` and ``/jail/recipe/recipe.py``: read-only;
- ``/jail/scratch``: the only writable directory (the training run's weights; an empty
  one of its own for each evaluation jail);
- ``/jail/weights``: the trained weights, read-only (evaluation and the causality probe).

Process jail (bwrap): every namespace unshared (no network), user 65534, all capabilities
dropped, an empty environment, the system and interpreter directories read-only, rlimits
(processes, address space, file size, open files, no core dumps). Docker: ``--network
none``, read-only root, user 65534, ``--cap-drop ALL``, ``no-new-privileges``, memory and
pid limits, no environment from the host, the project's own packages in the image (the
harness among them) covered by empty directories. On a GPU host only the GPU named with ``gpu``:
``--gpus device=N`` for Docker, that GPU's device nodes alone for bwrap (prepared; not yet
tested on a GPU). Either way the caller (:mod:`trainer.codetrial`) times it
from outside and kills it at the deadline. The two jails share this mount layout, so the
child is the same file in both.

A worker that itself runs in a container (the compose stack's ``code-trainer``) talks to the
host's Docker daemon, which resolves bind-mount sources on its own side, not in the worker's
file system. :data:`VOLUME_ENV` names a Docker volume the worker has mounted (``NAME:DIR``):
code trials then make their work directories under ``DIR`` (:func:`work_dir`), the child
file is copied there, and every mount source is rewritten to the volume's mount point as
the daemon sees it, so the jail still binds each directory alone, never the whole volume.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from contract.bwrap import system_bind_args
from contract.cgroup import user_tasks

CHILD_FILE = Path(__file__).resolve().parent / "recipe_child.py"
JAIL_ROOT = "/jail"
JAIL_CHILD = f"{JAIL_ROOT}/recipe_child.py"
JAIL_RECIPE_DIR = f"{JAIL_ROOT}/recipe"
JAIL_SCRATCH = f"{JAIL_ROOT}/scratch"
JAIL_WEIGHTS_DIR = f"{JAIL_ROOT}/weights"
NOBODY = "65534"
# The trainer image the Docker jail runs (the same image as the trainer, so the jail's
# torch and numpy are the worker's); BILEVEL_RECIPE_IMAGE names another tag.
IMAGE_ENV = "BILEVEL_RECIPE_IMAGE"
DEFAULT_IMAGE = "bilevel/trainer:cpu"
# Where that image installs the project (its venv's site-packages, images/trainer.Dockerfile)
# and the project's own packages there: the harness (trainer.codetrial), the orchestrator
# and the sandbox are the image's too, so each is covered by an empty read-only directory in
# the Docker jail, and a recipe that imports the harness finds nothing.
IMAGE_SITE_PACKAGES = "/opt/venv/lib/python3.11/site-packages"
PROJECT_PACKAGES = ("contract", "orchestrator", "sandbox", "trainer")
# Size of each of those empty directories (a tmpfs): nothing is ever written there.
EMPTY_TMPFS = "ro,size=4k"
BACKEND_ENV = "BILEVEL_RECIPE_JAIL"  # "process" (default) or "docker"
# ``NAME:DIR``: a Docker volume mounted at DIR in this (containerised) worker, where jail
# directories are made so the daemon can bind them (the compose stack's code-trainer).
VOLUME_ENV = "BILEVEL_JAIL_VOLUME"
# The folder under that volume code trials work in (one temporary directory per trial).
VOLUME_WORK_FOLDER = "code-trials"
# `docker volume inspect` is a local API call: seconds at most, even on a loaded host.
VOLUME_INSPECT_TIMEOUT_S = 30
# Processes and threads of the jailed run beyond what this user already runs: torch's
# intra-op pool and a few helpers, and not a fork bomb's worth.
JAIL_PIDS_LIMIT = 64
# Address space of the jailed process: torch reserves far more virtual memory than it
# touches, so this is a backstop; the Docker jail's --memory bounds real memory.
ADDRESS_SPACE_LIMIT = 16 << 30
# Real memory of one jailed run (Docker --memory, the process jail's cgroup): a cpu-tiny
# run uses a few hundred MiB; a runaway recipe stops here, not at the host's OOM killer.
MEMORY_LIMIT_BYTES = 4 << 30
# The largest file the jail may write: the trained weights of the GPU presets fit.
FILE_SIZE_LIMIT = 2 << 30
OPEN_FILES_LIMIT = 256
# Python flags: no user site-packages (-s), no script directory on sys.path (-P), no
# bytecode written (-B: nothing to write to anyway).
PYTHON_FLAGS = ("-s", "-P", "-B")


class JailUnavailable(RuntimeError):
    """No jail can be built on this host (no bwrap, no Docker): refuse the code trial."""


@dataclass(frozen=True)
class Mounts:
    recipe_dir: Path
    scratch: Path
    weights_dir: Path | None = None
    # Directories under a bound prefix the jail must not read (a data set's corpus files
    # inside site-packages), each covered by ``empty``, a read-only empty directory.
    hidden: tuple[Path, ...] = ()
    empty: Path | None = None


def backend() -> str:
    return os.environ.get(BACKEND_ENV, "process")


def _jail_volume() -> tuple[str, Path] | None:
    """(volume name, where it is mounted here) from :data:`VOLUME_ENV`, or None."""
    value = os.environ.get(VOLUME_ENV, "").strip()
    if not value:
        return None
    name, sep, folder = value.partition(":")
    if not sep or not name or not folder.startswith("/"):
        raise JailUnavailable(f"{VOLUME_ENV} must be NAME:/absolute/dir (got {value!r})")
    return name, Path(folder)


def work_dir() -> Path | None:
    """Where code trials make their work directories: under the jail volume when one is
    named (made on first use), else None (the system's temporary directory)."""
    volume = _jail_volume()
    if volume is None or backend() != "docker":
        return None
    folder = volume[1] / VOLUME_WORK_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@functools.cache
def _volume_mountpoint(name: str) -> Path:
    """The volume's directory as the Docker daemon sees it (its bind-mount sources)."""
    try:
        out = subprocess.run(
            ["docker", "volume", "inspect", "--format", "{{.Mountpoint}}", name],
            capture_output=True,
            text=True,
            timeout=VOLUME_INSPECT_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JailUnavailable(f"docker volume inspect {name} failed: {exc}") from None
    mountpoint = out.stdout.strip()
    if out.returncode != 0 or not mountpoint.startswith("/"):
        why = (out.stderr.strip().splitlines() or ["no mount point"])[-1][:300]
        raise JailUnavailable(f"the jail volume {name!r} cannot be found: {why}")
    return Path(mountpoint)


def daemon_path(path: Path) -> Path:
    """``path`` as the Docker daemon must name it in a bind mount: itself, or, under the
    jail volume, the same place under the volume's mount point."""
    volume = _jail_volume()
    if volume is None:
        return path
    name, folder = volume
    try:
        relative = path.resolve().relative_to(folder.resolve())
    except ValueError:
        raise JailUnavailable(
            f"{path} is not under the jail volume's {folder}: the Docker daemon cannot bind it"
        ) from None
    return _volume_mountpoint(name) / relative


def _child_file() -> Path:
    """The child file as the jail binds it: a copy under the jail volume when one is named
    (the worker's own copy is in its image, out of the daemon's reach)."""
    folder = work_dir()
    if folder is None:
        return CHILD_FILE
    copy = folder / CHILD_FILE.name
    source = CHILD_FILE.read_bytes()
    if not copy.is_file() or copy.read_bytes() != source:
        staged = folder / f".{CHILD_FILE.name}.{uuid.uuid4().hex}"
        staged.write_bytes(source)
        staged.chmod(0o644)
        staged.replace(copy)  # atomic: a jail starting meanwhile never reads half a file
    return copy


def rlimits() -> list[tuple[int, int]]:
    """The limits the process jail's child gets (set between fork and exec)."""
    limits = [
        (resource.RLIMIT_AS, ADDRESS_SPACE_LIMIT),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
        (resource.RLIMIT_CORE, 0),
    ]
    if os.geteuid() != 0:  # root is exempt from RLIMIT_NPROC; Docker's --pids-limit is not
        limits.append((resource.RLIMIT_NPROC, user_tasks() + JAIL_PIDS_LIMIT))
    return limits


def _env(threads: int) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": JAIL_SCRATCH,
        "TMPDIR": JAIL_SCRATCH,  # torch needs a temporary directory; the scratch is the only one
        "OMP_NUM_THREADS": str(threads),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def gpu_device_nodes(gpu: str) -> list[str]:
    """The device nodes one NVIDIA GPU needs: its own node and the shared control nodes."""
    nodes = [f"/dev/nvidia{gpu}", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    return [node for node in nodes if os.path.exists(node)]


def process_command(mounts: Mounts, threads: int, *, gpu: str | None = None) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise JailUnavailable(
            "code trials need a jail: install bubblewrap (bwrap) or set "
            f"{BACKEND_ENV}=docker with the trainer image available"
        )
    cmd = [
        bwrap,
        "--unshare-all", "--unshare-user", "--disable-userns",
        "--uid", NOBODY, "--gid", NOBODY,
        "--die-with-parent", "--new-session", "--clearenv",
        "--cap-drop", "ALL", "--hostname", "recipe",
    ]  # fmt: skip
    cmd += system_bind_args()
    for hidden in mounts.hidden:
        if mounts.empty is not None and hidden.is_dir():
            cmd += ["--ro-bind", str(mounts.empty), str(hidden)]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    for node in gpu_device_nodes(gpu) if gpu is not None else []:
        cmd += ["--dev-bind", node, node]  # its own GPU only: the others' nodes are absent
    cmd += ["--remount-ro", "/dev"]
    cmd += ["--ro-bind", str(CHILD_FILE), JAIL_CHILD]
    cmd += ["--ro-bind", str(mounts.recipe_dir), JAIL_RECIPE_DIR]
    if mounts.weights_dir is not None:
        cmd += ["--ro-bind", str(mounts.weights_dir), JAIL_WEIGHTS_DIR]
    cmd += ["--bind", str(mounts.scratch), JAIL_SCRATCH]
    cmd += ["--remount-ro", "/", "--chdir", JAIL_ROOT]
    for key, value in _env(threads).items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", sys.executable, *PYTHON_FLAGS, JAIL_CHILD]


def docker_command(
    mounts: Mounts, threads: int, *, image: str | None = None, gpu: str | None = None
) -> tuple[list[str], str]:
    """The ``docker run`` argv and the container's name (to kill it at the deadline)."""
    name = f"bilevel-recipe-{uuid.uuid4().hex[:12]}"
    cmd = [
        "docker", "run", "--rm", "-i", "--name", name,
        "--network", "none", "--read-only", "--user", f"{NOBODY}:{NOBODY}",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--memory", str(MEMORY_LIMIT_BYTES), "--memory-swap", str(MEMORY_LIMIT_BYTES),
        "--pids-limit", str(JAIL_PIDS_LIMIT), "--ulimit", "core=0",
        "--workdir", JAIL_ROOT,
        "-v", f"{daemon_path(_child_file())}:{JAIL_CHILD}:ro",
        "-v", f"{daemon_path(mounts.recipe_dir)}:{JAIL_RECIPE_DIR}:ro",
    ]  # fmt: skip
    if mounts.weights_dir is not None:
        cmd += ["-v", f"{daemon_path(mounts.weights_dir)}:{JAIL_WEIGHTS_DIR}:ro"]
    cmd += ["-v", f"{daemon_path(mounts.scratch)}:{JAIL_SCRATCH}:rw"]
    # The hidden packages (the pinned corpus's sources) are installed in the image too, under
    # the same names: covered there as the process jail covers them on this host.
    for package in sorted({*PROJECT_PACKAGES, *(hidden.name for hidden in mounts.hidden)}):
        cmd += ["--tmpfs", f"{IMAGE_SITE_PACKAGES}/{package}:{EMPTY_TMPFS}"]
    if gpu is not None:
        cmd += ["--gpus", f"device={gpu}"]  # its own GPU only, never "all"
    for key, value in _env(threads).items():
        if key != "PATH":  # the image's PATH finds its own interpreter
            cmd += ["-e", f"{key}={value}"]
    image = image or os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)
    return [*cmd, "--entrypoint", "python", image, *PYTHON_FLAGS, JAIL_CHILD], name
