"""The Kubernetes deployment (``runners/kubernetes``): each overlay, rendered by a real kustomize, is checked
against the Flink Kubernetes Operator 1.10's own CRD schema (from its API jar on Maven Central: the
apiextensions.k8s.io/v1 form of the CRD, whose v1beta1 version our manifests use) with unknown fields refused, as
``kubectl apply --validate=strict`` would, and its pieces agree with each other and with the CLI: the submitter's
flags parse, it reaches the sidecar pools, the job server and the REST service that the operator creates. There is
no Kubernetes cluster here; these are the checks that can run without one."""

import copy
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

pytestmark = pytest.mark.e2e
SERVICES = Path(os.environ.get("COMPLAINTS_SERVICES_DIR", REPO / ".services"))
KUSTOMIZE = SERVICES / "bin" / "kustomize"
CRD_JAR = SERVICES / "kubernetes" / "libs" / "flink-kubernetes-operator-api-1.10.0.jar"
OVERLAYS = ("dev", "staging", "prod")


def _need(path: Path) -> None:
    if not path.exists():
        message = f"{path} missing (python runners/local_services.py fetch)"
        if os.environ.get("COMPLAINTS_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)


def strict(schema: dict) -> dict:
    """The CRD's OpenAPI schema with unknown fields refused wherever Kubernetes would prune them."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # what every object has and Kubernetes checks itself, outside the CRD's schema
    schema["properties"].update(
        {
            "apiVersion": {"enum": ["flink.apache.org/v1beta1"]},
            "kind": {"enum": ["FlinkDeployment"]},
            "metadata": {"type": "object"},
        }
    )
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return schema


@pytest.fixture(scope="module")
def flink_deployment_schema():
    _need(CRD_JAR)
    with zipfile.ZipFile(CRD_JAR) as jar:
        crd = yaml.safe_load(jar.read("META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"))
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    return strict(version["schema"]["openAPIV3Schema"])


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request):
    _need(KUSTOMIZE)
    result = subprocess.run(
        [str(KUSTOMIZE), "build", str(REPO / "runners" / "kubernetes" / "overlays" / request.param)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return {"overlay": request.param, "by_kind": {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}}


def test_the_flink_deployment_is_valid_against_the_operators_crd(rendered, flink_deployment_schema):
    import jsonschema

    deployment = rendered["by_kind"][("FlinkDeployment", "complaints-flink")]
    jsonschema.Draft7Validator(flink_deployment_schema).validate(deployment)
    broken = copy.deepcopy(deployment)
    broken["spec"]["taskManager"]["replica"] = 3  # a typo the strict check must catch
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(flink_deployment_schema).validate(broken)


def test_a_misspelt_field_or_wrong_type_is_refused(flink_deployment_schema):
    import jsonschema

    base = yaml.safe_load((REPO / "runners" / "kubernetes" / "base" / "flink-session.yaml").read_text())
    jsonschema.Draft7Validator(flink_deployment_schema).validate(base)
    for change in ({"flinkVersion": "v1_99"}, {"jobManager": {"replicas": "two"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft7Validator(flink_deployment_schema).validate({**base, "spec": {**base["spec"], **change}})


def _args(container: dict) -> dict:
    return dict(arg.removeprefix("--").split("=", 1) for arg in container.get("args", []) if "=" in arg)


def test_the_pieces_reach_each_other(rendered):
    docs = rendered["by_kind"]
    flink = docs[("FlinkDeployment", "complaints-flink")]["spec"]
    sidecars = {c["name"]: c for c in flink["taskManager"]["podTemplate"]["spec"]["containers"]}
    submit = docs[("Job", "complaints-stream")]["spec"]["template"]["spec"]["containers"][0]
    server = docs[("Deployment", "complaints-job-server")]["spec"]["template"]["spec"]["containers"]
    service_ports = {p["port"] for p in docs[("Service", "complaints-job-server")]["spec"]["ports"]}
    flags = _args(submit)
    # the operator names the session cluster's REST service <name>-rest
    assert flags["flink_master"] == _args(server[0])["flink-master"] == "complaints-flink-rest:8081"
    assert flags["environment_type"] == "EXTERNAL"
    pool_port = sidecars["beam-python-worker-pool"]["ports"][0]["containerPort"]
    assert flags["environment_config"] == f"localhost:{pool_port}"
    # as many Python workers in each TaskManager's pool as it has slots, so the slots' bundles do not share one
    assert int(flags["sdk_worker_parallelism"]) == int(flink["flinkConfiguration"]["taskmanager.numberOfTaskSlots"])
    java_port = sidecars["beam-java-worker"]["ports"][0]["containerPort"]
    assert f"--defaultEnvironmentConfig=localhost:{java_port}" in server[1]["command"]
    for flag, port in (("job_endpoint", 8099), ("artifact_endpoint", 8098), ("expansion-service", 18097)):
        host, _, number = flags[flag].partition(":")
        assert host == "complaints-job-server" and int(number) == port and port in service_ports, flag
    images = {c["image"] for c in [*sidecars.values(), submit, *server] if "image" in c}
    registry = {"dev": "beejan-dev", "staging": "beejan-staging", "prod": "beejan-prod"}[rendered["overlay"]]
    assert all(registry in image and image.endswith(":0.1.0") for image in images), images
    assert flags["output-dir"].startswith(f"gs://beejan-complaints-{rendered['overlay']}/")
    assert flink["flinkConfiguration"]["state.checkpoints.dir"].startswith(
        f"gs://beejan-complaints-{rendered['overlay']}/"
    )
    if rendered["overlay"] == "prod":
        assert flink["jobManager"]["replicas"] == 2
        assert flink["flinkConfiguration"]["high-availability.type"] == "kubernetes"


def test_the_secrets_a_job_does_not_carry_reach_the_workers_from_the_submitters_secret(rendered):
    """The stream job carries neither the contact-token key nor the catalog's password, only where they are: the
    submitter takes ``complaints-secrets`` whole, and the Python worker pool beside each TaskManager (where the
    enrichment and commit steps run) takes the same two keys of it, under the names the profile says."""
    from beam_pipelines.config import SecuritySettings, WarehouseSettings

    docs = rendered["by_kind"]
    flink = docs[("FlinkDeployment", "complaints-flink")]["spec"]
    pool = {c["name"]: c for c in flink["taskManager"]["podTemplate"]["spec"]["containers"]}["beam-python-worker-pool"]
    submit = docs[("Job", "complaints-stream")]["spec"]["template"]["spec"]["containers"][0]
    [secret] = [ref["secretRef"]["name"] for ref in submit["envFrom"]]
    from_secret = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in pool["env"]
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    for name in (SecuritySettings().contact_token_key_env, WarehouseSettings().catalog_password_env):
        assert from_secret[name]["name"] == secret and from_secret[name]["key"] == name, name


def test_the_submitters_flags_are_the_clis(rendered):
    """What the Job runs parses as ``complaints stream run`` with FlinkRunner options, as the CLI would."""
    from beam_pipelines.cli import build_parser
    from beam_pipelines.options import check_stream

    submit = rendered["by_kind"][("Job", "complaints-stream")]["spec"]["template"]["spec"]["containers"][0]
    assert submit["command"] == ["complaints"]
    args, extra = build_parser("stream run").parse_known_args(submit["args"])
    check_stream(args)
    assert (args.command, args.subcommand, args.transport) == ("stream", "run", "kafka")
    assert args.profile == {"prod": "prod"}.get(rendered["overlay"], rendered["overlay"])
    assert args.runner == "FlinkRunner"
    assert {arg.split("=")[0] for arg in extra} <= {
        "--flink_master",
        "--job_endpoint",
        "--artifact_endpoint",
        "--environment_type",
        "--environment_config",
        "--parallelism",
        "--checkpointing_interval",
        "--sdk_worker_parallelism",
    }


def test_the_webform_endpoint_is_the_clis_and_its_service_probes_and_profile_agree(rendered):
    """The public endpoint's Deployment runs ``complaints ingest webform`` with flags that parse, the overlay's
    profile (whose [webform] section loads, with the key its secret must carry), probes and a Service that reach
    its port, listening on all interfaces, on the edge image of the overlay's registry."""
    from beam_pipelines.cli import build_parser
    from beam_pipelines.config import load_section

    docs = rendered["by_kind"]
    deployment = docs[("Deployment", "complaints-webform-endpoint")]
    service = docs[("Service", "complaints-webform-endpoint")]
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["complaints"]
    args = build_parser("ingest webform").parse_args(container["args"])
    assert (args.command, args.subcommand, args.transport, args.host) == ("ingest", "webform", "kafka", "0.0.0.0")
    assert args.profile == rendered["overlay"]
    assert args.kafka_bootstrap_servers.startswith(f"kafka.{deployment['metadata']['namespace']}.svc:")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": args.port}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "httpGet" not in container["livenessProbe"]  # a broker outage must not restart the pods
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    registry = {"dev": "beejan-dev", "staging": "beejan-staging", "prod": "beejan-prod"}[rendered["overlay"]]
    assert registry in container["image"] and container["image"].endswith("complaints-edge:0.1.0")
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    settings = load_section("webform", args.profile)
    assert settings.identity_key_env == "COMPLAINTS_WEBFORM_IDENTITY_KEY"
    assert [ref["secretRef"]["name"] for ref in container["envFrom"]] == ["complaints-webform-secrets"]
    if rendered["overlay"] != "dev":
        assert settings.identity_key is None and settings.trusted_proxies  # behind the ingress, key from the secret
