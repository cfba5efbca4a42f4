"""Deployment files are valid (no Docker engine or cluster here: they are validated, not run)."""

from __future__ import annotations

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
