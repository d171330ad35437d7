"""The per-run cgroup of the process sandbox; its one source is :mod:`contract.cgroup`,
shared with the trainer's recipe jail (services import only the leaf and themselves)."""

from contract.cgroup import CGROUP_ROOT, MEMORY_LIMIT, PIDS_LIMIT, Cgroup, cgroup_available

__all__ = ["CGROUP_ROOT", "MEMORY_LIMIT", "PIDS_LIMIT", "Cgroup", "cgroup_available"]
