"""Static checks of the compose files: the trust boundaries of DESIGN §2 hold in the
deployment itself. Parsed with a real YAML parser; overlays merged as compose merges them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.compose_reset import rewrite
from tests.conftest import REPO

BASE = REPO / "compose.yaml"
CPU = REPO / "compose.cpu.yaml"
HOSTNET = REPO / "compose.test.yaml"
ENV_EXAMPLE = REPO / ".env.example"
SERVICES = {"redis", "orchestrator", "sandbox-runner", "trainer", "code-trainer", "dashboard"}
# The opt-in services and their profile: not started unless asked for.
PROFILED = {"code-trainer": "code-trials"}
SOCKET = "docker.sock"
SHARED_REDIS_PORT = "6379"
# The Redis user of each service that talks to Redis (deploy/redis-entrypoint.sh).
REDIS_ROLES = {
    "orchestrator": "orchestrator",
    "trainer": "trainer",
    "code-trainer": "codetrainer",
    "sandbox-runner": "runner",
}


def load(*files: Path, tmp_path: Path) -> dict[str, Any]:
    """The files merged the way deploy/stack.sh hands them to compose (resets applied)."""
    docs = [yaml.safe_load(p.read_text()) for p in rewrite(list(files), tmp_path / "out")]
    merged: dict[str, Any] = {"services": {}, "networks": {}, "volumes": {}}
    for doc in docs:
        for section in merged:
            for name, body in (doc.get(section) or {}).items():
                merged[section][name] = _merge(merged[section].get(name), body)
    return merged


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value)
        return out
    return override


def networks_of(service: dict[str, Any]) -> set[str]:
    nets = service.get("networks") or []
    return set(nets if isinstance(nets, list) else nets.keys())


def mounts_of(service: dict[str, Any]) -> list[str]:
    return [
        v if isinstance(v, str) else str(v.get("source", "")) for v in service.get("volumes", [])
    ]


@pytest.fixture
def base(tmp_path: Path) -> dict[str, Any]:
    return load(BASE, tmp_path=tmp_path)


def test_every_service_is_defined(base: dict[str, Any]) -> None:
    assert set(base["services"]) == SERVICES


def test_docker_socket_only_in_the_sandbox_runner_and_the_opt_in_code_trainer(
    tmp_path: Path,
) -> None:
    for files in ([BASE], [BASE, CPU], [BASE, CPU, HOSTNET]):
        services = load(*files, tmp_path=tmp_path)["services"]
        holders = {n for n, s in services.items() if any(SOCKET in m for m in mounts_of(s))}
        assert holders == {"sandbox-runner", "code-trainer"}, files
        profiles = {n: s["profiles"] for n, s in services.items() if "profiles" in s}
        assert profiles == {name: [profile] for name, profile in PROFILED.items()}, files
        code = services["code-trainer"]
        env = code["environment"]
        # It jails recipes in Docker, holds the trial key alone, and serves only its queue.
        assert env["BILEVEL_RECIPE_JAIL"] == "docker"
        assert env["BILEVEL_RECIPE_IMAGE"] == code["image"]
        assert "BILEVEL_TRIAL_JOB_KEY" in env and "BILEVEL_SANDBOX_JOB_KEY" not in env
        queue = code["command"][code["command"].index("--queue") + 1]
        assert queue == "${BILEVEL_CODE_TRIAL_QUEUE:-bilevel:code-trials}"
        assert not any(k.endswith("API_KEY") for k in env)
    for path in (BASE, CPU, HOSTNET):
        assert "privileged" not in path.read_text()


def test_internal_network_has_no_gateway(base: dict[str, Any]) -> None:
    assert base["networks"]["internal"].get("internal") is True
    assert base["networks"]["egress"].get("internal") is not True


def test_only_the_orchestrator_reaches_egress(base: dict[str, Any]) -> None:
    on_egress = {n for n, s in base["services"].items() if "egress" in networks_of(s)}
    assert on_egress == {"orchestrator"}
    assert networks_of(base["services"]["redis"]) == {"internal"}
    assert networks_of(base["services"]["sandbox-runner"]) == {"internal"}
    assert networks_of(base["services"]["trainer"]) == {"internal"}
    assert networks_of(base["services"]["code-trainer"]) == {"internal"}
    assert networks_of(base["services"]["orchestrator"]) == {"internal", "egress"}
    for name, service in base["services"].items():
        if name != "dashboard":
            assert "ports" not in service, "nothing else is published on the host's interfaces"
        assert "network_mode" not in service


def test_dashboard_is_read_only_on_loopback_and_reaches_nothing(base: dict[str, Any]) -> None:
    dashboard = base["services"]["dashboard"]
    assert networks_of(dashboard) == {"dashboard"}
    on_it = {n for n, s in base["services"].items() if "dashboard" in networks_of(s)}
    assert on_it == {"dashboard"}, "no other service shares its network"
    assert all(str(p).startswith("127.0.0.1:") for p in dashboard["ports"])
    assert mounts_of(dashboard) == ["runs:/app/runs:ro"]
    assert "BILEVEL_REDIS_URL" not in (dashboard.get("environment") or {})


@pytest.mark.parametrize("overlay", [False, True], ids=["bridge", "host-network"])
def test_each_service_has_its_own_redis_user(tmp_path: Path, overlay: bool) -> None:
    """A trainer's credentials cannot enqueue sandbox work (the ACL itself is tested on a
    real Redis in test_redis_acl.py); here: each service is handed only its own user."""
    merged = load(BASE, *([HOSTNET] if overlay else []), tmp_path=tmp_path)
    passwords = {f"REDIS_{role.upper()}_PASSWORD" for role in REDIS_ROLES.values()}
    for name, service in merged["services"].items():
        env = service.get("environment") or {}
        url = env.get("BILEVEL_REDIS_URL", "")
        if name in REDIS_ROLES:
            role = REDIS_ROLES[name]
            assert url.startswith(f"redis://{role}:${{REDIS_{role.upper()}_PASSWORD:?"), name
            assert [p for p in sorted(passwords) if p in url] == [f"REDIS_{role.upper()}_PASSWORD"]
        else:
            assert not url, name
        if name != "redis":  # only Redis itself holds every role's password
            assert not passwords & set(env), name
    redis_env = merged["services"]["redis"]["environment"]
    assert {"REDIS_PASSWORD", "BILEVEL_TRIAL_QUEUE", "BILEVEL_SANDBOX_QUEUE"} <= set(redis_env)
    runner = merged["services"]["sandbox-runner"]["command"]
    assert runner[runner.index("--queue") + 1] == "${BILEVEL_SANDBOX_QUEUE:-bilevel-sandbox}"


def test_trainer_reserves_an_nvidia_gpu(base: dict[str, Any]) -> None:
    devices = base["services"]["trainer"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    others = {n for n, s in base["services"].items() if "deploy" in s}
    assert others == {"trainer"}


def test_cpu_overlay_drops_the_reservation_and_uses_cpu_torch(tmp_path: Path) -> None:
    trainer = load(BASE, CPU, tmp_path=tmp_path)["services"]["trainer"]
    assert "deploy" not in trainer
    assert trainer["image"].endswith(":cpu")
    assert load(BASE, tmp_path=tmp_path)["services"]["trainer"]["image"].endswith(":cuda")


def test_host_network_overlay_keeps_to_loopback(tmp_path: Path) -> None:
    merged = load(BASE, CPU, HOSTNET, tmp_path=tmp_path)
    assert merged["networks"] == {}
    for name, service in merged["services"].items():
        assert service["network_mode"] == "host", name
        assert "networks" not in service, name
        url = (service.get("environment") or {}).get("BILEVEL_REDIS_URL")
        if name == "dashboard":
            assert url is None and "ports" not in service
            assert service["command"][service["command"].index("--host") + 1] == "127.0.0.1"
        elif name != "redis":
            assert re.search(r"@127\.0\.0\.1:\$\{BILEVEL_STACK_REDIS_PORT:-(\d+)\}/", url), url
    redis = merged["services"]["redis"]["environment"]
    assert redis["REDIS_BIND"] == "127.0.0.1"
    default_port = re.search(r":-(\d+)\}", redis["REDIS_PORT"]).group(1)
    assert default_port != SHARED_REDIS_PORT


def test_services_are_hardened(base: dict[str, Any]) -> None:
    for name, service in base["services"].items():
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "healthcheck" in service, name
        assert "user" not in service, f"{name}: the image's non-root user is not overridden"


def test_startup_waits_for_health(base: dict[str, Any]) -> None:
    deps = base["services"]["orchestrator"]["depends_on"]
    assert deps["redis"]["condition"] == "service_healthy"
    assert deps["sandbox-runner"]["condition"] == "service_healthy"
    assert base["services"]["trainer"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_only_the_orchestrator_sees_llm_keys(base: dict[str, Any]) -> None:
    for name, service in base["services"].items():
        keys = {k for k in service.get("environment", {}) if k.endswith("API_KEY")}
        assert (name == "orchestrator") == bool(keys), name


# A value that looks like a credential: long random-looking tokens, key prefixes.
SECRET_PATTERN = re.compile(r"(sk-[A-Za-z0-9]{8,}|[A-Fa-f0-9]{32,}|AKIA[0-9A-Z]{16})")


def test_no_secrets_in_the_files() -> None:
    for path in (BASE, CPU, HOSTNET, ENV_EXAMPLE):
        text = path.read_text()
        assert not SECRET_PATTERN.search(text), path
    # Passwords only ever arrive as variables, and compose refuses to start without them.
    assert re.findall(r"REDIS_PASSWORD[^\n]*", BASE.read_text())
    urls = re.findall(r"redis://[^\s\"']*", BASE.read_text() + HOSTNET.read_text())
    assert len(urls) == 8  # one per role (orchestrator, trainer, code trainer, runner), both files
    for line in urls:
        role = line.removeprefix("redis://").split(":", 1)[0]
        assert role in REDIS_ROLES.values(), line
        assert line.startswith(f"redis://{role}:${{REDIS_{role.upper()}_PASSWORD:?"), line
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert example["REDIS_PASSWORD"] == "change-me"
    for role in REDIS_ROLES.values():
        assert example[f"REDIS_{role.upper()}_PASSWORD"].startswith("change-me")
    assert all(not v for k, v in example.items() if k.endswith("API_KEY"))


def test_env_example_documents_every_variable() -> None:
    used = set()
    for path in (BASE, CPU, HOSTNET):
        used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", path.read_text()))
    documented = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if re.match(r"^[A-Z_]+=", line)
    }
    assert used <= documented, f"undocumented in .env.example: {sorted(used - documented)}"


def test_env_file_is_never_committed() -> None:
    assert ".env" in (REPO / ".gitignore").read_text().split()
    tracked = subprocess.run(
        ["git", "ls-files", ".env"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""


@pytest.mark.docker
@pytest.mark.parametrize(
    ("gpu", "host_network"), [("yes", "no"), ("no", "no"), ("no", "yes"), ("yes", "yes")]
)
def test_compose_accepts_every_variant(docker_engine: None, gpu: str, host_network: str) -> None:
    """The files as deploy/stack.sh hands them to this host's compose (v1 or v2)."""
    env = {
        **os.environ,
        "BILEVEL_GPU": gpu,
        "BILEVEL_HOST_NETWORK": host_network,
        "REDIS_PASSWORD": "not-a-secret",
        "COMPOSE_PROJECT_NAME": "bltestconfig",
    }
    proc = subprocess.run(
        ["bash", str(REPO / "deploy" / "stack.sh"), "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    trainer = config["services"]["trainer"]
    assert ("deploy" in trainer) == (gpu == "yes")
    assert trainer["image"] == ("bilevel/trainer:cuda" if gpu == "yes" else "bilevel/trainer:cpu")
    for name, service in config["services"].items():
        if host_network == "yes":
            assert service.get("network_mode") == "host", name
            assert "networks" not in service, name
        else:
            assert "network_mode" not in service, name
    runner_mounts = config["services"]["sandbox-runner"]["volumes"]
    assert any(SOCKET in str(m) for m in runner_mounts)
