"""deploy/ stays in step with the code it deploys.

Every ``GRAYSIGNAL_*`` variable named in deploy/ (and in README's "Deploy" section) is a
real setting; ports and probe paths are the daemon's; the rules shipped in manifests
pass ``graysignal check``; settings files load; the alerts about graysignal itself name
metrics it really exports and pass ``promtool``; the systemd unit passes
``systemd-analyze verify``; the Dockerfile runs as non-root with a health check; and
every YAML and JSON file parses.

The probe paths used in deploy/ must equal the daemon's own constants
(``adapters.daemon.http``), and each is checked against a running ``OpsServer`` too:
it must answer, and be wired to the right predicate.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from adapters.cli import app
from adapters.daemon.http import LIVENESS_PATH, METRICS_PATH, READINESS_PATH, OpsServer
from adapters.daemon.metrics import DaemonMetrics
from adapters.daemon.settings import DEFAULT_PORT, DaemonSettings, load_settings, parse_shard
from adapters.digest.settings import DigestSettings
from adapters.fleet import SCHEDULER_ENV
from adapters.limits import Limits
from adapters.settings import LokiSettings, PrometheusSettings
from detector.durations import parse_duration

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
GRAYSIGNAL = Path(sys.executable).with_name("graysignal")
ENV_NAME = re.compile(r"(?<![A-Za-z0-9_])GRAYSIGNAL_[A-Z0-9_]+")
METRIC_NAME = re.compile(r"\b(graysignal_[a-zA-Z0-9_:]+)")


# --- helpers ------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def manifests() -> dict[str, dict[str, Any]]:
    """Kubernetes objects from deploy/kubernetes by ``Kind/name``."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def container() -> dict[str, Any]:
    spec = manifests()["StatefulSet/graysignal"]["spec"]["template"]["spec"]
    (main,) = [c for c in spec["containers"] if c["name"] == "graysignal"]
    result: dict[str, Any] = main
    return result


def k8s_settings_text() -> str:
    text: str = manifests()["ConfigMap/graysignal-settings"]["data"]["graysignal.yaml"]
    return text


def readme_deploy_section() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"^## Deploy\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, "README.md has no '## Deploy' section"
    return match.group(1)


def setting_env_names() -> set[str]:
    """Every environment variable a graysignal setting is read from."""
    names = set()
    prefix = str(DaemonSettings.model_config.get("env_prefix", ""))
    names |= {f"{prefix}{field}".upper() for field in DaemonSettings.model_fields}
    for cls in (PrometheusSettings, LokiSettings, DigestSettings, Limits):
        prefix = str(cls.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def text_files() -> Iterator[Path]:
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def exported_metric_names() -> set[str]:
    """The sample names ``DaemonMetrics`` exposes, derived from each family's type (a
    labelled metric with no children yet has no samples to list)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
    }
    names = set()
    for family in DaemonMetrics().registry.collect():
        names |= {family.name + suffix for suffix in suffixes[family.type]}
    return names


def alert_rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = load_yaml(DEPLOY / "prometheus" / "graysignal-alerts.yml")[
        "groups"
    ]
    return groups


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "graysignal-dashboard.json").read_text()
    )
    return data


def dashboard_expressions() -> list[str]:
    exprs: list[str] = []
    for panel in dashboard()["panels"]:
        exprs.extend(t["expr"] for t in panel.get("targets", []))
    for variable in dashboard()["templating"]["list"]:
        exprs.append(variable["definition"])
    return exprs


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (`make servers` installs promtool)")
    return path


def load_run_module() -> ModuleType:
    """deploy/playground/run.py, imported by path (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "playground_run", DEPLOY / "playground" / "run.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for entry in logical:
        keyword, _, rest = entry.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


# --- settings and environment variables ---------------------------------------------


def test_every_graysignal_variable_named_in_deploy_is_a_real_setting() -> None:
    known = setting_env_names() | {SCHEDULER_ENV}  # the fleet commands' (deploy/dask), no daemon's
    sources = {str(p.relative_to(REPO)): p.read_text(errors="replace") for p in text_files()}
    sources["README.md (## Deploy)"] = readme_deploy_section()
    if (REPO / "docs" / "deploy.md").exists():
        sources["docs/deploy.md"] = (REPO / "docs" / "deploy.md").read_text()
    unknown = []
    for where, text in sources.items():
        for name in set(ENV_NAME.findall(text)):
            # "GRAYSIGNAL_PROMETHEUS_*" reads as the prefix GRAYSIGNAL_PROMETHEUS_.
            ok = any(k.startswith(name) for k in known) if name.endswith("_") else name in known
            if not ok:
                unknown.append(f"{where}: {name}")
    assert not unknown, f"not a graysignal setting: {sorted(unknown)}"


def test_the_env_example_lists_variables_commented_out() -> None:
    lines = (DEPLOY / "systemd" / "graysignal.env.example").read_text().splitlines()
    named = [line for line in lines if "GRAYSIGNAL_" in line and "=" in line]
    assert named and all(line.startswith("#GRAYSIGNAL_") for line in named)
    # The secrets a systemd operator needs are among them.
    text = "\n".join(lines)
    for name in ("GRAYSIGNAL_SLACK_WEBHOOK_URL", "GRAYSIGNAL_PROMETHEUS_BEARER_TOKEN"):
        assert f"#{name}=" in text
    # "Every variable graysignal reads is listed": the YAML-only ``digest`` section aside.
    listed = {line[1:].split("=", 1)[0] for line in named}
    assert setting_env_names() - listed == {"GRAYSIGNAL_DIGEST"}


@pytest.mark.parametrize(
    "settings_file",
    [
        "graysignal.yaml.example",
        "playground/compose/graysignal.yaml",
        "kubernetes/configmap.yaml",
    ],
)
def test_settings_files_load(settings_file: str, tmp_path: Path) -> None:
    path = DEPLOY / settings_file
    if path.parent.name == "kubernetes":
        path = tmp_path / "graysignal.yaml"
        path.write_text(k8s_settings_text())
    settings = load_settings(path)
    assert settings.listen_address.endswith(f":{DEFAULT_PORT}")
    assert settings.ledger == Path("/var/lib/graysignal/ledger.db")
    assert settings.rules == [Path("/etc/graysignal/rules")]


def test_secrets_stay_out_of_settings_files() -> None:
    for text in (
        (DEPLOY / "graysignal.yaml.example").read_text(),
        (DEPLOY / "playground" / "compose" / "graysignal.yaml").read_text(),
        k8s_settings_text(),
    ):
        data = yaml.safe_load(text)
        assert not {"webhook_url", "slack_webhook_url"} & set(data)


# --- ports and probes ---------------------------------------------------------------


@pytest.fixture
def ops_server() -> Iterator[tuple[str, dict[str, bool]]]:
    """The daemon's real ops server, with switchable health and readiness."""
    state = {"healthy": True, "ready": True}
    server = OpsServer(
        "127.0.0.1:0",
        CollectorRegistry(),
        healthy=lambda: state["healthy"],
        ready=lambda: state["ready"],
    )
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", state
    finally:
        server.stop()


def deploy_probe_paths() -> dict[str, set[str]]:
    """Paths deploy/ sends each kind of probe to."""
    main = container()
    healthcheck = next(args for kw, args in final_stage() if kw == "HEALTHCHECK")
    health_urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", healthcheck)
    assert health_urls, healthcheck
    assert {int(port) for port, _ in health_urls} == {DEFAULT_PORT}
    monitor = manifests()["ServiceMonitor/graysignal"]["spec"]["endpoints"]
    return {
        "liveness": {
            main["livenessProbe"]["httpGet"]["path"],
            main["startupProbe"]["httpGet"]["path"],
            *(path for _, path in health_urls),
        },
        "readiness": {main["readinessProbe"]["httpGet"]["path"]},
        "metrics": {endpoint["path"] for endpoint in monitor},
    }


def test_probe_paths_are_the_ones_the_daemon_serves(
    ops_server: tuple[str, dict[str, bool]],
) -> None:
    base, state = ops_server
    paths = deploy_probe_paths()
    assert paths == {
        "liveness": {LIVENESS_PATH},
        "readiness": {READINESS_PATH},
        "metrics": {METRICS_PATH},
    }
    for group in paths.values():
        for path in group:
            assert httpx.get(base + path).status_code == 200, path
    assert httpx.get(base + "/nope").status_code == 404  # the server does tell paths apart
    # Liveness follows the loops' health, readiness whether rules are loaded.
    state["healthy"] = False
    assert all(httpx.get(base + p).status_code == 503 for p in paths["liveness"])
    assert all(httpx.get(base + p).status_code == 200 for p in paths["readiness"])
    state["healthy"], state["ready"] = True, False
    assert all(httpx.get(base + p).status_code == 200 for p in paths["liveness"])
    assert all(httpx.get(base + p).status_code == 503 for p in paths["readiness"])


def test_ports_are_the_daemons_default_port() -> None:
    main = container()
    (port,) = main["ports"]
    assert port["containerPort"] == DEFAULT_PORT
    assert port["name"] == "http-metrics"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert main[probe]["httpGet"]["port"] == "http-metrics"
    (service_port,) = manifests()["Service/graysignal"]["spec"]["ports"]
    assert service_port == {
        "name": "http-metrics",
        "port": DEFAULT_PORT,
        "targetPort": "http-metrics",
        "protocol": "TCP",
    }
    monitor = manifests()["ServiceMonitor/graysignal"]["spec"]["endpoints"]
    assert [e["port"] for e in monitor] == ["http-metrics"]
    exposed = [args for kw, args in final_stage() if kw == "EXPOSE"]
    assert exposed == [str(DEFAULT_PORT)]
    cmd = json.loads(next(args for kw, args in final_stage() if kw == "CMD"))
    assert cmd[cmd.index("--listen-address") + 1] == f"0.0.0.0:{DEFAULT_PORT}"
    compose = load_yaml(DEPLOY / "compose.yaml")
    assert f"127.0.0.1:19786:{DEFAULT_PORT}" in compose["services"]["graysignal"]["ports"]


# --- Kubernetes ---------------------------------------------------------------------


def test_configmap_rules_pass_graysignal_check(tmp_path: Path) -> None:
    files = manifests()["ConfigMap/graysignal-rules"]["data"]
    assert files
    for name, text in files.items():
        assert name.endswith((".yaml", ".yml")), name  # the daemon loads only these
        (tmp_path / name).write_text(text)
    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count(" OK") == len(files)


def test_playground_rules_pass_graysignal_check() -> None:
    result = CliRunner().invoke(app, ["check", str(DEPLOY / "playground" / "rules.yaml")])
    assert result.exit_code == 0, result.output


def test_kustomization_lists_every_manifest() -> None:
    listed = load_yaml(K8S / "kustomization.yaml")["resources"]
    present = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def test_statefulset_is_hardened_and_keeps_its_ledger() -> None:
    objects = manifests()
    statefulset = objects["StatefulSet/graysignal"]["spec"]
    pod = statefulset["template"]["spec"]
    main = container()
    assert statefulset["replicas"] == 1
    assert statefulset["serviceName"] == "graysignal"
    assert "Service/graysignal" in objects
    # Pod and container security: non-root, read-only root, no capabilities.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    ctx = main["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(main["resources"]["requests"])
    assert {"cpu", "memory"} <= set(main["resources"]["limits"])
    # The ledger lives on the claim template's volume, where the settings put it.
    settings = yaml.safe_load(k8s_settings_text())
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    (claim,) = statefulset["volumeClaimTemplates"]
    assert Path(settings["ledger"]).parent == Path(mounts[claim["metadata"]["name"]])
    assert [Path(p) for p in settings["rules"]] == [Path(mounts["rules"])]
    # Every ConfigMap and Secret the pod refers to exists, with the keys it reads.
    for volume in pod["volumes"]:
        if "configMap" in volume:
            assert f"ConfigMap/{volume['configMap']['name']}" in objects
    secret = objects["Secret/graysignal"]["stringData"]
    for env in main["env"]:
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "graysignal" and ref["key"] in secret
    # Placeholders are impossible to miss.
    assert all("REPLACE_ME" in value for value in secret.values())
    # SIGTERM's outbox flush fits in the grace period.
    assert pod["terminationGracePeriodSeconds"] > parse_duration(settings["flush_timeout"])


def test_the_shard_comes_from_the_pod_ordinal(tmp_path: Path) -> None:
    """Run the container's real command line with a stand-in ``graysignal`` that prints
    its arguments: pod graysignal-2 of 3 replicas runs ``--shard 2/3``."""
    main = container()
    assert main["command"] == ["/bin/sh", "-c"]
    fake = tmp_path / "graysignal"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "HOSTNAME": "graysignal-2"}
    replicas = next(e for e in main["env"] if e["name"] == "REPLICAS")
    assert replicas["value"] == str(manifests()["StatefulSet/graysignal"]["spec"]["replicas"])

    def shard_for(extra: dict[str, str]) -> str:
        out = subprocess.run(
            ["/bin/sh", "-c", *main["args"]],
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        assert out[:3] == ["run", "--config", "/etc/graysignal/graysignal.yaml"]
        shard: str = out[out.index("--shard") + 1]
        return shard

    assert shard_for({"REPLICAS": "3"}) == "2/3"
    assert parse_shard(shard_for({"REPLICAS": "3"})) == (2, 3)
    with pytest.raises(ValueError):  # more pods than REPLICAS says: refused, not ignored
        parse_shard(shard_for({"REPLICAS": "2"}))


def test_kustomize_builds_including_the_documented_scaling_recipe(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` cannot be tried")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(built) if doc)
    assert kinds == sorted(
        [
            "ConfigMap",
            "ConfigMap",
            "Namespace",
            "PrometheusRule",
            "Secret",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "StatefulSet",
        ]
    )
    # Uncomment the scaling example at the end of kustomization.yaml: replicas and
    # REPLICAS move together.
    copy = tmp_path / "kubernetes"
    shutil.copytree(K8S, copy)
    text = (copy / "kustomization.yaml").read_text()
    head, _, recipe = text.partition("# replicas:")
    lines = ("# replicas:" + recipe).splitlines()
    (copy / "kustomization.yaml").write_text(
        head + "\n".join(line.removeprefix("# ") for line in lines) + "\n"
    )
    scaled = subprocess.run(
        [kubectl, "kustomize", str(copy)], capture_output=True, text=True, check=True
    ).stdout
    (statefulset,) = [d for d in yaml.safe_load_all(scaled) if d and d["kind"] == "StatefulSet"]
    env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    replicas = next(e["value"] for e in env if e["name"] == "REPLICAS")
    assert statefulset["spec"]["replicas"] == int(replicas) == 3


# --- graysignal's own alerts --------------------------------------------------------


def test_prometheusrule_carries_the_plain_rule_file() -> None:
    rule = manifests()["PrometheusRule/graysignal"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == alert_rule_groups()


def test_alerts_cover_down_failures_staleness_outbox_and_reloads() -> None:
    exprs = {r["alert"]: r["expr"] for g in alert_rule_groups() for r in g["rules"]}
    joined = "\n".join(exprs.values())
    assert 'absent(up{job="graysignal"} == 1)' in joined
    for metric in (
        "graysignal_rule_evaluation_failures_total",
        "graysignal_group_last_success_timestamp_seconds",
        "graysignal_outbox_depth",
        "graysignal_config_last_reload_successful",
    ):
        assert metric in joined, metric
    # The scrape job is named after the Service the ServiceMonitor selects.
    assert "Service/graysignal" in manifests()


@pytest.mark.parametrize("where", ["alert rules", "dashboard"])
def test_expressions_name_only_metrics_the_daemon_exports(where: str) -> None:
    if where == "alert rules":
        exprs = [r["expr"] for g in alert_rule_groups() for r in g["rules"]]
    else:
        exprs = dashboard_expressions()
    used = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert used, "no graysignal metric found"
    assert used <= exported_metric_names(), sorted(used - exported_metric_names())


def test_every_exported_metric_is_documented_for_operators() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    documented = set(re.findall(r"^\| `(graysignal_[a-z_]+)` \|", text, flags=re.M))
    families = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in DaemonMetrics().registry.collect()
    }
    assert documented == families, (sorted(families - documented), sorted(documented - families))


def test_promtool_accepts_the_prometheusrule_spec(tmp_path: Path) -> None:
    promtool = require("promtool")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(manifests()["PrometheusRule/graysignal"]["spec"]))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    """Each alert fires on its failure and stays quiet for a healthy daemon
    (deploy/prometheus/graysignal-alerts.test.yml)."""
    promtool = require("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", "graysignal-alerts.test.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana ------------------------------------------------------------------------


def test_dashboard_takes_its_datasource_as_an_input() -> None:
    board = dashboard()
    assert [i["name"] for i in board["__inputs"]] == ["DS_PROMETHEUS"]
    datasources = [p["datasource"] for p in board["panels"] if "datasource" in p]
    datasources += [t["datasource"] for p in board["panels"] for t in p.get("targets", [])]
    assert datasources
    assert all(ds == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"} for ds in datasources)
    titles = " ".join(p["title"].lower() for p in board["panels"])
    for topic in ("duration", "failures", "findings", "alerts", "outbox", "source", "reload"):
        assert topic in titles, topic


# --- systemd ------------------------------------------------------------------------


def unit_directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / "graysignal.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_unit_is_hardened_and_reloads_with_sighup() -> None:
    unit = unit_directives()
    expected = {
        "DynamicUser": "yes",
        "StateDirectory": "graysignal",
        "ConfigurationDirectory": "graysignal",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "EnvironmentFile": "-/etc/graysignal/graysignal.env",
    }
    for key, value in expected.items():
        assert unit.get(key) == [value], key
    exec_start = shlex.split(unit["ExecStart"][0])
    assert exec_start[1:] == ["run", "--config", "/etc/graysignal/graysignal.yaml"]
    # Stopping waits for the outbox flush of the settings file it ships with.
    flush = load_settings(DEPLOY / "graysignal.yaml.example").flush_timeout
    assert parse_duration(unit["TimeoutStopSec"][0]) > flush


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """``verify`` insists that ExecStart's program exists, so the copy it checks runs
    this checkout's graysignal instead of /opt/graysignal/bin/graysignal."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (DEPLOY / "systemd" / "graysignal.service").read_text()
    assert "/opt/graysignal/bin/graysignal" in text
    unit = tmp_path / "graysignal.service"
    unit.write_text(text.replace("/opt/graysignal/bin/graysignal", str(GRAYSIGNAL)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "graysignal.service" not in result.stderr, result.stderr  # no warnings about it


# --- container image ----------------------------------------------------------------


def test_dockerfile_builds_a_wheel_and_runs_it_as_non_root() -> None:
    instructions = dockerfile_instructions()
    froms = [args for kw, args in instructions if kw == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    assert all(args.startswith("python:${PYTHON_VERSION}-slim") for args in froms)
    assert ("ARG", "PYTHON_VERSION=3.11") in instructions
    assert any(kw == "RUN" and "pip wheel" in args for kw, args in instructions[: -len(froms)])
    stage = final_stage()
    users = [args for kw, args in stage if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(kw == "HEALTHCHECK" and "/healthz" in args for kw, args in stage)
    assert any(kw == "VOLUME" and "/var/lib/graysignal" in args for kw, args in stage)
    assert json.loads(next(args for kw, args in stage if kw == "ENTRYPOINT")) == ["graysignal"]
    cmd = json.loads(next(args for kw, args in stage if kw == "CMD"))
    assert cmd[0] == "run"
    assert cmd[cmd.index("--rules") + 1] == "/etc/graysignal/rules"
    labels = " ".join(args for kw, args in stage if kw == "LABEL")
    for key in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_dockerignore_lets_through_what_the_build_copies() -> None:
    patterns = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert "*" in patterns  # an allowlist: nothing else reaches the build context
    copied = set()
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in args:
            copied |= set(args.split()[:-1])
    assert copied and copied <= allowed, copied - allowed
    packages = load_yaml_toml_packages()
    assert packages <= allowed, packages - allowed


def load_yaml_toml_packages() -> set[str]:
    """Top-level package directories pyproject.toml builds, plus its readme."""
    import tomllib  # noqa: PLC0415

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*") for pattern in includes} | {project["project"]["readme"]}


# --- files parse; playground and compose agree ---------------------------------------


def test_all_yaml_and_json_under_deploy_parse() -> None:
    parsed = 0
    for path in text_files():
        if path.suffix in (".yaml", ".yml") or path.name.endswith((".yaml.example",)):
            assert list(yaml.safe_load_all(path.read_text())), path
            parsed += 1
        elif path.suffix == ".json":
            json.loads(path.read_text())
            parsed += 1
    assert parsed >= 15


def test_compose_playground_matches_the_local_one() -> None:
    compose = load_yaml(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"demo", "prometheus", "alertmanager", "graysignal"}
    assert services["graysignal"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / services["graysignal"]["build"]["context"] / "deploy/Dockerfile").exists()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
    run = load_run_module()
    local = run.prometheus_config(
        run.Playground(Path("/tmp/pg"), dict(run.DEFAULT_PORTS), 1440.0), Path("/tmp/r.yml")
    )
    docker = load_yaml(DEPLOY / "playground" / "compose" / "prometheus.yml")

    def jobs(config: dict[str, Any]) -> dict[str, str]:
        default = config["global"]["scrape_interval"]
        return {j["job_name"]: j.get("scrape_interval", default) for j in config["scrape_configs"]}

    assert jobs(docker) == jobs(local)
    assert docker["global"] == local["global"]
    assert load_yaml(DEPLOY / "playground" / "compose" / "alertmanager.yml") == (
        run.ALERTMANAGER_CONFIG
    )
    local_settings = run.graysignal_settings(
        run.Playground(Path("/tmp/pg"), dict(run.DEFAULT_PORTS), 1440.0)
    )
    docker_settings = load_yaml(DEPLOY / "playground" / "compose" / "graysignal.yaml")
    assert set(docker_settings) == set(local_settings)
    # Same host ports as the local playground.
    for name, port in run.DEFAULT_PORTS.items():
        published = " ".join(services[name]["ports"])
        assert f"127.0.0.1:{port}:" in published, name


def test_promtool_accepts_the_playground_prometheus_config(tmp_path: Path) -> None:
    promtool = require("promtool")
    run = load_run_module()
    rules = tmp_path / "graysignal-alerts.yml"
    shutil.copyfile(DEPLOY / "prometheus" / "graysignal-alerts.yml", rules)
    config = tmp_path / "prometheus.yml"
    pg = run.Playground(tmp_path, dict(run.DEFAULT_PORTS), 1440.0)
    config.write_text(yaml.safe_dump(run.prometheus_config(pg, rules)))
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_targets_drive_the_playground_script() -> None:
    makefile = (REPO / "Makefile").read_text()
    start = re.search(r"^playground:.*\n\t(.+)$", makefile, flags=re.M)
    stop = re.search(r"^playground-stop:.*\n\t(.+)$", makefile, flags=re.M)
    assert start and start.group(1).endswith("deploy/playground/run.py start")
    assert stop and stop.group(1).endswith("deploy/playground/run.py stop")
    assert ".playground/" in (REPO / ".gitignore").read_text().splitlines()
