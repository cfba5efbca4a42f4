"""Deployment files are valid (no Docker engine or cluster here: they are validated, not run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


def test_compose_file_follows_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_service_with_health_checks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for role in ("ingest", "classification", "standings", "gateway"):
        assert role in services and "--ops-port" in services[role]["command"]
    assert {"n1", "n2", "n3"} <= set(services) and services["n1"]["profiles"] == ["cluster"]


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_kubernetes_manifests_validate_strictly(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, "1.37", strict=True)


def test_every_deployment_has_probes() -> None:
    documents = [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text())]
    deployments = [d for d in documents if d["kind"] in ("Deployment", "StatefulSet")]
    assert {d["metadata"]["name"] for d in deployments} >= {"nats", "ingest", "classification", "standings", "gateway"}
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, deployment["metadata"]["name"]


DEPLOY = ROOT / "deploy" / "nats"


def test_compose_secures_the_broker_by_default() -> None:
    """Before: NATS without authentication, client and monitoring ports published on every interface."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    broker = compose["services"]["nats"]
    assert broker["ports"] == ["127.0.0.1:4222:4222"]  # clients on loopback, monitoring not published
    assert broker["command"][:2] == ["sh", "/etc/nats/require-passwords.sh"]
    mounted = {volume.split(":")[1] for volume in broker["volumes"]}
    assert {"/etc/nats/single.conf", "/etc/nats/accounts.conf", "/etc/nats/require-passwords.sh"} <= mounted
    for name, value in broker["environment"].items():
        assert value.startswith(f"${{{name}:?"), f"{name} must refuse an unset or empty value"
    assert "nats://services:${CHEQUERED_SERVICES_PASSWORD" in compose["x-service"]["environment"]["NATS_URL"]
    for node in ("n1", "n2", "n3"):
        assert "CHEQUERED_SERVICES_PASSWORD" in compose["services"][node]["environment"]


def test_kubernetes_runs_the_same_accounts_with_monitoring_on_loopback() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "nats.yaml").read_text()))
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]
    assert config["accounts.conf"] == (DEPLOY / "accounts.conf").read_text()
    assert config["require-passwords.sh"] == (DEPLOY / "require-passwords.sh").read_text()
    assert "include ./accounts.conf" in config["cluster.conf"] and "http: 127.0.0.1:8222" in config["cluster.conf"]
    nats = next(d for d in documents if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert nats["command"][:2] == ["sh", "/etc/nats/require-passwords.sh"]
    assert {port["containerPort"] for port in nats["ports"]} == {4222, 6222}
    services = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "chequered.yaml").read_text())]
    for workload in services:
        for container in workload["spec"].get("template", {}).get("spec", {}).get("containers", []):
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["NATS_URL"].startswith("nats://services:$(CHEQUERED_SERVICES_PASSWORD)@")


@pytest.mark.parametrize("name", ["single.conf", "cluster.conf"])
def test_broker_configs_include_the_accounts_and_document_durability(name: str) -> None:
    text = (DEPLOY / name).read_text()
    assert "include ./accounts.conf" in text and "power" in text
    assert "0.0.0.0:8222" not in text and "http: 8222" not in text


def test_single_conf_runs_with_passwords_and_refuses_anonymous_clients(tmp_path: Path) -> None:
    """The shipped single-node config, started as the deployments start it (its ports and store moved here)."""
    import asyncio

    import nats

    from services.broker.embedded import free_port, nats_server_binary, wait_for_port
    from tests.reliability.roles import role_environment

    port, monitor = free_port(), free_port()
    env = {**os.environ, **role_environment(), "NATS_SERVER": str(nats_server_binary())}
    config = tmp_path / "single.conf"
    config.write_text((DEPLOY / "single.conf").read_text().replace("/data/jetstream", str(tmp_path / "store")))
    (tmp_path / "accounts.conf").write_text((DEPLOY / "accounts.conf").read_text())
    args = ["sh", str(DEPLOY / "require-passwords.sh"), "-c", str(config)]
    args += ["-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)]
    with subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL) as server:
        try:
            wait_for_port(port, 10, server)

            async def logins() -> tuple[bool, bool]:
                anonymous = True
                try:
                    await (await nats.connect(f"nats://127.0.0.1:{port}", allow_reconnect=False)).close()
                except Exception:
                    anonymous = False
                services = await nats.connect(
                    f"nats://services:{env['CHEQUERED_SERVICES_PASSWORD']}@127.0.0.1:{port}", allow_reconnect=False
                )
                await services.close()
                return anonymous, services.is_closed

            assert asyncio.run(logins()) == (False, True)
        finally:
            server.terminate()
            server.communicate(timeout=10)


def test_the_image_runs_the_compiled_classification_core_as_make_install_builds_it() -> None:
    """Built in the full Python image (a C compiler), run from the slim one; the same command as ``make install``."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    command = "python -m services.classification.compiled"
    assert command in dockerfile and command in (ROOT / "Makefile").read_text()
    assert [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")] == [
        "python:3.11",
        "python:3.11-slim",
    ]
    assert "COPY --from=build /app /app" in dockerfile  # the extension modules beside their source
