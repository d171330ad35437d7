"""The docker backend's container profile is the hardened one of DESIGN §2, as the engine sees it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.sandbox.helpers import make_test_backend

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def docker_backend() -> Any:
    return make_test_backend("docker")


def test_engine_applies_the_hardened_profile(docker_backend: Any) -> None:
    api = docker_backend.client.api
    cid = api.create_container(**docker_backend.container_config(time.time() + 60))["Id"]
    try:
        info = api.inspect_container(cid)
    finally:
        api.remove_container(cid, force=True)
    host, config = info["HostConfig"], info["Config"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert not host.get("Binds") and not info.get("Mounts")
    assert "noexec" in host["Tmpfs"]["/tmp"] and "size=16m" in host["Tmpfs"]["/tmp"]
    assert host["PidsLimit"] > 0 and host["Memory"] > 0 and host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] > 0
    assert {u["Name"] for u in host["Ulimits"]} >= {"fsize", "nofile", "core"}
    assert config["User"] == "10001:10001"
    assert config["WorkingDir"] == "/work"  # empty and read-only: nothing to import or plant
    assert sorted(e.split("=")[0] for e in config["Env"]) == ["LANG", "PATH"]
    assert config["Labels"]["org.bilevel.sandbox"] == "1"


def test_reaper_removes_containers_past_their_deadline(docker_backend: Any) -> None:
    from sandbox.backends.docker import REAP_GRACE_S, reap_containers

    api = docker_backend.client.api
    cid = api.create_container(**docker_backend.container_config(time.time() - REAP_GRACE_S - 5))[
        "Id"
    ]
    assert reap_containers(docker_backend.client) >= 1
    assert not api.containers(all=True, filters={"id": cid})
