#!/usr/bin/env python3
"""Local services for the pipelines: a Kafka broker, Beam's expansion service (Kafka, SQL) and Java worker pool, the
Prism runner, a Flink 1.19 cluster (JobManager + one TaskManager with 2 slots) with Beam's Flink job server
and a Python SDK worker pool, and PostgreSQL holding the shared Iceberg catalog (Debian's ``postgresql``; as
root it runs as the ``postgres`` account). Standard library only, so it runs before the project's environment
exists.

    python runners/local_services.py fetch     # jars from Maven Central, Prism built from the Go module proxy
    python runners/local_services.py start     # fetch if needed, then start all and wait until they listen
    python runners/local_services.py stop
    python runners/local_services.py status
    python runners/local_services.py run -- CMD...   # start what is not running, run CMD, stop what it started
    python runners/local_services.py airflow  # Apache Airflow with the project's DAGs, in the foreground

Everything lives under ``.services/`` in the repository (ignored by git): ``kafka/libs``, ``xlang/libs``,
``flink/job-server``, ``flink/dist`` (Flink from PyPI's apache-flink packages, installed with ``--target``, never
into the project's environment: they pin an old Beam), ``flink/conf``, ``airflow/venv`` (Apache Airflow for the
DAG tests and ``make airflow``, from ``runners/airflow/requirements.txt``), ``kubernetes/libs`` (the Flink operator's
CRDs) and ``bin/kustomize`` (for the manifest tests), ``spark/venv`` and ``spark/jars`` (Spark 3.5 with Iceberg,
for the tests of a second engine on our tables), ``bin/prism``, ``data/`` (``data/postgres``: PostgreSQL's
cluster, made by initdb at its first start), ``logs/`` and ``run/*.pid``. Ports come from the environment
(defaults below).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("COMPLAINTS_SERVICES_DIR", REPO / ".services"))
POMS = REPO / "runners" / "services"
BEAM_VERSION = "2.77.0"  # Prism is built at the Python SDK's own version
PRISM_MODULE = f"github.com/apache/beam/sdks/v2/go/cmd/prism@v{BEAM_VERSION}"
#: kustomize renders the Kubernetes overlays (runners/kubernetes) that the tests check against the operator's CRDs
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5@v5.7.1"


def _env_number(name: str, default: int) -> int:
    """A whole number of at least 1 from the environment; anything else stops here with one line (exit 1)."""
    raw = os.environ.get(name, str(default))
    if not raw.strip().isdecimal() or int(raw) < 1:
        raise SystemExit(f"local_services: {name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


KAFKA_PORT = _env_number("COMPLAINTS_KAFKA_PORT", 9092)
KAFKA_CONTROLLER_PORT = _env_number("COMPLAINTS_KAFKA_CONTROLLER_PORT", 9093)
EXPANSION_PORT = _env_number("COMPLAINTS_EXPANSION_PORT", 18097)
JAVA_WORKER_PORT = _env_number("COMPLAINTS_JAVA_WORKER_PORT", 18098)
FLINK_VERSION = "1.19.3"
FLINK_REST_PORT = _env_number("COMPLAINTS_FLINK_REST_PORT", 8081)
FLINK_RPC_PORT = _env_number("COMPLAINTS_FLINK_RPC_PORT", 6123)
FLINK_JOB_PORT = _env_number("COMPLAINTS_FLINK_JOB_PORT", 8099)
#: the TaskManager's slots. Two by default, the tests' parallelism. A stream waits on state round trips more than
#: it computes, so more slots than cores, with as many Python workers, raise its rate (README, "Slots and Python
#: workers")
FLINK_SLOTS = _env_number("COMPLAINTS_FLINK_SLOTS", 2)
PYTHON_POOL_PORT = _env_number("COMPLAINTS_PYTHON_POOL_PORT", 50000)
#: when set, how many times the cluster restarts a job that lost a TaskManager (fixed delay of 2 s), batch jobs
#: included; unset: Flink's default (streams with checkpoints restart with an exponential delay, batch jobs never)
FLINK_RESTART_ATTEMPTS = (
    _env_number("COMPLAINTS_FLINK_RESTART_ATTEMPTS", 1) if os.environ.get("COMPLAINTS_FLINK_RESTART_ATTEMPTS") else None
)
#: the interpreter whose Beam the Flink workers run: the project's environment (``make`` passes it)
PYTHON = os.environ.get("COMPLAINTS_PYTHON", str(REPO / ".venv" / "bin" / "python"))

#: PostgreSQL (Debian's ``postgresql`` 15) holding the shared Iceberg SQL catalog; 5433, not 5432, so that it never
#: meets a system cluster on the default port
POSTGRES_PORT = _env_number("COMPLAINTS_POSTGRES_PORT", 5433)
POSTGRES_DATABASE = "iceberg_catalog"
POSTGRES_USER = "complaints"
POSTGRES_PASSWORD = "complaints"  # a local development server on loopback only; production's comes from a secret
#: where the processes opening the catalog find its password (``[warehouse] catalog_password_env``'s default)
CATALOG_PASSWORD_ENV = "COMPLAINTS_CATALOG_PASSWORD"

SERVICES = (
    "postgres",
    "kafka",
    "java-worker",
    "expansion",
    "flink-jobmanager",
    "flink-taskmanager",
    "flink-job-server",
    "python-worker-pool",
)
PORTS = {
    "postgres": POSTGRES_PORT,
    "kafka": KAFKA_PORT,
    "java-worker": JAVA_WORKER_PORT,
    "expansion": EXPANSION_PORT,
    "flink-jobmanager": FLINK_REST_PORT,
    "flink-taskmanager": None,
    "flink-job-server": FLINK_JOB_PORT,
    "python-worker-pool": PYTHON_POOL_PORT,
}
#: how a service is asked to stop (SIGTERM otherwise): PostgreSQL's "fast" shutdown ends its sessions and stops at
#: once, where SIGTERM ("smart") would wait for every client to disconnect
STOP_SIGNALS = {"postgres": signal.SIGINT}


class ServiceError(Exception):
    pass


def catalog_uri(database: str = POSTGRES_DATABASE) -> str:
    """The SQLAlchemy URI of the shared Iceberg SQL catalog in ``database`` on the local PostgreSQL (what
    ``[warehouse] catalog_uri`` or ``COMPLAINTS_CATALOG_URI`` take)."""
    return f"postgresql+psycopg://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{POSTGRES_PORT}/{database}"


def flink_submit_options() -> list[str]:
    """The Beam options that submit a job to this cluster, its ports as ``start`` opened them (the env overrides
    included): Beam's job server, the JobManager, and the Python worker pool as an EXTERNAL environment."""
    return [
        "--runner",
        "FlinkRunner",
        f"--flink_master=localhost:{FLINK_REST_PORT}",
        f"--job_endpoint=localhost:{FLINK_JOB_PORT}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{PYTHON_POOL_PORT}",
    ]


def _run(command: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise ServiceError(f"{' '.join(command[:4])} ... failed:\n" + "\n".join(tail))


def _copy_dependencies(pom: Path, target: Path) -> None:
    stamp = target / ".stamp"
    if stamp.exists() and stamp.stat().st_mtime >= pom.stat().st_mtime:
        return
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    print(f"fetching {pom.parent.name} jars from Maven Central into {target}", flush=True)
    _run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={target}",
            "-DincludeScope=runtime",
        ]
    )
    stamp.touch()


def _build_kafka_read(module: Path, target: Path) -> None:
    """Our Java module (``runners/services/xlang/src``: the Kafka read with a watermark that does not stall on
    an empty partition, the registrar of SqlTransform's URN, and their JUnit tests) built and tested by
    ``mvn package``, and its jar put on the
    expansion service's and Java worker's classpath beside the dependencies. Rebuilt when a source changes."""
    jar = target / "beejan-kafka-read.jar"
    inputs = [module / "pom.xml", *(path for path in (module / "src").rglob("*") if path.is_file())]
    if jar.exists() and jar.stat().st_mtime >= max(path.stat().st_mtime for path in inputs):
        return
    print(f"building and testing our Java module ({module / 'src'})", flush=True)
    _run(["mvn", "-q", "-B", "-f", str(module / "pom.xml"), "package"])
    shutil.copyfile(module / "target" / jar.name, jar)


def prism_path() -> Path:
    return HOME / "bin" / "prism"


def flink_home() -> Path:
    return HOME / "flink" / "dist" / "pyflink"


def fetch_flink() -> None:
    """Flink's distribution from PyPI (apache-flink ships the JobManager, TaskManager and their scripts), into
    its own folder with ``--target``: never into the project's environment, whose Beam it would replace."""
    if (flink_home() / "bin" / "jobmanager.sh").exists():
        return
    target = HOME / "flink" / "dist"
    print(f"installing Flink {FLINK_VERSION} from PyPI into {target}", flush=True)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            f"apache-flink=={FLINK_VERSION}",
            f"apache-flink-libraries=={FLINK_VERSION}",
        ]
    )
    for script in (flink_home() / "bin").iterdir():
        script.chmod(0o755)


def airflow_venv() -> Path:
    return HOME / "airflow" / "venv"


def fetch_airflow() -> None:
    """Apache Airflow in an environment of its own (``runners/airflow/requirements.txt``, every version pinned):
    the DAGs run the project's ``complaints`` command as a subprocess, so Airflow's pins and Beam's never meet."""
    requirements = REPO / "runners" / "airflow" / "requirements.txt"
    stamp = airflow_venv() / ".stamp"
    if stamp.exists() and stamp.stat().st_mtime >= requirements.stat().st_mtime:
        return
    print(f"installing Apache Airflow from PyPI into {airflow_venv()}", flush=True)
    if airflow_venv().exists():
        shutil.rmtree(airflow_venv())
    _run([sys.executable, "-m", "venv", str(airflow_venv())])
    pip = str(airflow_venv() / "bin" / "pip")
    _run([pip, "install", "--quiet", "--upgrade", "pip"])
    _run([pip, "install", "--quiet", "--no-deps", "-r", str(requirements)])
    stamp.touch()


AIRFLOW_API_PORT = _env_number("COMPLAINTS_AIRFLOW_PORT", 8790)


def airflow_environment() -> dict:
    """The environment of a local Airflow: its home under ``.services/airflow/home``, the project's DAG folder,
    the API server on loopback (``COMPLAINTS_AIRFLOW_PORT``, 8790: 8080 is ``complaints serve``'s), and the DAGs'
    paths defaulting to this checkout (``landing/``, ``out/``, ``.venv/bin/complaints``); anything already set in
    the environment wins."""
    defaults = {
        "AIRFLOW_HOME": str(HOME / "airflow" / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "runners" / "airflow" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(AIRFLOW_API_PORT),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{AIRFLOW_API_PORT}/execution/",
        "COMPLAINTS_LANDING_DIR": str(REPO / "landing"),
        "COMPLAINTS_OUTPUT_DIR": str(REPO / "out"),
        "COMPLAINTS_CLI": str(REPO / ".venv" / "bin" / "complaints"),
    }
    env = {**defaults, **os.environ}
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", airflow_database(env["AIRFLOW_HOME"]))
    env["PATH"] = f"{airflow_venv() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def airflow_database(home: str) -> str:
    """The SQLite metadata database of an Airflow home. A connection waits up to 60 s for another process's
    write lock (SQLite's default is 5 s): the scheduler, the DAG processor and CLI calls all write to the one
    file, and a ``backfill create`` that met a lock half-way left a backfill with only some of its days."""
    return f"sqlite:///{os.path.abspath(home)}/airflow.db?timeout=60"


def run_airflow() -> int:
    """``airflow standalone`` (scheduler, DAG processor, triggerer, API server and UI; SQLite, LocalExecutor) in
    the foreground until Ctrl-C."""
    fetch_airflow()
    env = airflow_environment()
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    print(
        f"Airflow on http://127.0.0.1:{env['AIRFLOW__API__PORT']} (user admin, password in "
        f"{env['AIRFLOW_HOME']}/simple_auth_manager_passwords.json.generated); DAGs from "
        f"{env['AIRFLOW__CORE__DAGS_FOLDER']}, landing {env['COMPLAINTS_LANDING_DIR']}, output "
        f"{env['COMPLAINTS_OUTPUT_DIR']}; Ctrl-C stops it",
        flush=True,
    )
    try:
        return subprocess.call(
            [str(airflow_venv() / "bin" / "airflow"), "standalone"], env=env, cwd=env["AIRFLOW_HOME"]
        )
    except KeyboardInterrupt:
        return 130


def spark_home() -> Path:
    return HOME / "spark"


def _fetched(target: Path, sources: list[Path]) -> bool:
    """True when ``target`` was fetched from exactly these sources: its stamp holds their text (not their times,
    which differ between checkouts sharing one ``.services``)."""
    stamp = target / ".fetched-from"
    return stamp.exists() and stamp.read_text() == "".join(source.read_text() for source in sources)


def _fetch_into(target: Path, sources: list[Path], build) -> None:
    """``build(folder)`` into a fresh folder beside ``target``, stamped, then renamed over ``target``: a reader of
    ``target`` never sees half a fetch, and a failed fetch leaves the old one in place."""
    if _fetched(target, sources):
        return
    staging = target.with_name(f"{target.name}.fetching-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        build(staging)
        (staging / ".fetched-from").write_text("".join(source.read_text() for source in sources))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_spark() -> None:
    """Apache Spark 3.5 for the tests that check a second engine on our Iceberg tables: pyspark in an
    environment of its own (``.services/spark/venv``, from ``runners/spark/requirements.txt``; only its
    ``bin/python`` is used, so the folder may be renamed) and Iceberg's Spark runtime with the SQLite JDBC driver
    (``.services/spark/jars``, from ``runners/services/spark/pom.xml``). Nothing is done when both are already
    fetched from the same files."""
    requirements = REPO / "runners" / "spark" / "requirements.txt"
    pom = POMS / "spark" / "pom.xml"

    def install(venv: Path) -> None:
        print(f"installing Apache Spark from PyPI into {spark_home() / 'venv'}", flush=True)
        _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(venv / "bin" / "python"),
                "install",
                "--quiet",
                "--no-deps",
                "-r",
                str(requirements),
            ]
        )

    def copy_jars(jars: Path) -> None:
        print(f"fetching Spark's Iceberg jars from Maven Central into {spark_home() / 'jars'}", flush=True)
        _run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={jars}",
                "-DincludeScope=runtime",
            ]
        )

    _fetch_into(spark_home() / "venv", [requirements], install)
    _fetch_into(spark_home() / "jars", [pom], copy_jars)


def _go_install(module: str, binary: str, what: str) -> None:
    if (HOME / "bin" / binary).exists():
        return
    print(f"building {what} from the Go module proxy (a few minutes the first time)", flush=True)
    (HOME / "bin").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(HOME / "bin"), "GOFLAGS": "-buildvcs=false"}
    result = subprocess.run(["go", "install", module], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceError(f"go install {module} failed:\n" + result.stderr[-2000:])


#: what ``--only`` can name: each part's fetch steps and the services it starts. The streaming walk-through needs
#: ``kafka,xlang,prism`` (the broker, Beam's Kafka read through the expansion service, the runner); the whole
#: test suite needs everything.
PARTS = {
    "kafka": ("the Kafka broker", ("kafka",)),
    "xlang": (
        "Beam's expansion service and Java worker pool (Kafka on Prism and Flink, SqlTransform)",
        ("java-worker", "expansion"),
    ),
    "prism": ("the Prism runner (a binary, nothing to start)", ()),
    "flink": (
        "the Flink cluster, Beam's job server and the Python worker pool",
        ("flink-jobmanager", "flink-taskmanager", "flink-job-server", "python-worker-pool"),
    ),
    "airflow": ("Apache Airflow's environment (for the DAG tests and make airflow)", ()),
    "spark": ("Apache Spark's environment and Iceberg jars (for the second-engine tests)", ()),
    "kubernetes": ("the Flink operator's CRDs and kustomize (for the manifest tests)", ()),
    "postgres": ("PostgreSQL with the shared Iceberg SQL catalog's database (Debian's postgresql)", ("postgres",)),
}


def parts_named(text: str | None) -> tuple[str, ...]:
    """The parts a comma-separated ``--only`` names (all of them for None); an unknown name stops with one line."""
    if text is None:
        return tuple(PARTS)
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PARTS]
    if unknown or not names:
        raise ServiceError(f"--only takes a comma-separated list of {', '.join(PARTS)}; got {text!r}")
    return names


def fetch(parts=tuple(PARTS)) -> None:
    """Fetch what ``parts`` need (everything by default); what is already fetched is left as it is."""
    if "kafka" in parts:
        _copy_dependencies(POMS / "kafka" / "pom.xml", HOME / "kafka" / "libs")
    if "xlang" in parts:
        _copy_dependencies(POMS / "xlang" / "pom.xml", HOME / "xlang" / "libs")
        _build_kafka_read(POMS / "xlang", HOME / "xlang" / "libs")
    if "flink" in parts:
        _copy_dependencies(POMS / "flink" / "pom.xml", HOME / "flink" / "job-server")
        fetch_flink()
    if "kubernetes" in parts:
        _copy_dependencies(POMS / "kubernetes" / "pom.xml", HOME / "kubernetes" / "libs")
        _go_install(KUSTOMIZE_MODULE, "kustomize", "kustomize")
    if "airflow" in parts:
        fetch_airflow()
    if "spark" in parts:
        fetch_spark()
    if "prism" in parts:
        _go_install(PRISM_MODULE, "prism", f"Prism {BEAM_VERSION}")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _pid_file(name: str) -> Path:
    return HOME / "run" / f"{name}.pid"


def _alive(name: str) -> int | None:
    path = _pid_file(name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:  # a killed service whose parent has not reaped it yet is a zombie: gone all the same
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
    except (OSError, IndexError):
        pass
    return pid


def _spawn(
    name: str,
    command: list[str],
    port: int | None,
    env: dict | None = None,
    timeout: float = 90,
    user: str | None = None,
) -> bool:
    """Start a service unless it runs already; True if this call started it. Without a ``port`` (a process that
    only connects out), it returns once the process runs. ``user``: the account it runs as (root only)."""
    if port is not None and _alive(name) and _listening(port):
        print(f"{name}: already running on port {port}")
        return False
    if port is not None and _listening(port):
        raise ServiceError(f"{name}: port {port} is taken by another process")
    (HOME / "logs").mkdir(parents=True, exist_ok=True)
    (HOME / "run").mkdir(parents=True, exist_ok=True)
    log = open(HOME / "logs" / f"{name}.log", "ab")
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        user=user,
        group=user and _group_of(user),
        extra_groups=[] if user else None,
    )
    _pid_file(name).write_text(str(process.pid))
    if port is None:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{name}: exited with {process.returncode}; see {HOME / 'logs' / (name + '.log')}")
        if _listening(port):
            print(f"{name}: listening on port {port} (pid {process.pid})", flush=True)
            return True
        time.sleep(0.5)
    raise ServiceError(f"{name}: not listening on port {port} after {timeout:.0f} s")


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs (``initdb``, ``postgres``), the newest installed."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdecimal() else 0,
    )
    if not found:
        raise ServiceError("PostgreSQL is not installed (apt-get install postgresql): no /usr/lib/postgresql/*/bin")
    return found[-1].parent


def _postgres_account() -> str | None:
    """The account PostgreSQL runs as: ``postgres`` (Debian's package makes it) when we are root, since initdb and
    the server refuse to run as root; None (ourselves) otherwise."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError(
            "PostgreSQL will not run as root and there is no 'postgres' account (apt-get install postgresql makes it)"
        ) from None
    return "postgres"


def _group_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _owned_folder(path: Path, user: str | None) -> Path:
    """``path`` made (mode 0700) and owned by ``user`` (when root gives it one)."""
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        shutil.chown(path, user, _group_of(user))
    path.chmod(0o700)
    return path


def _as(user: str | None, command: list[str], input: str | None = None) -> None:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        input=input,
        user=user,
        group=user and _group_of(user),
        extra_groups=[] if user else None,
        cwd="/",
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise ServiceError(f"{' '.join(command[:3])} ... failed:\n" + "\n".join(tail))


def start_postgres() -> bool:
    """PostgreSQL for the shared Iceberg SQL catalog: a cluster of its own in ``.services/data/postgres`` (made by
    ``initdb`` the first time; see ``_postgres_folders``), listening on 127.0.0.1:``COMPLAINTS_POSTGRES_PORT`` (5433)
    with password (scram-sha-256) logins, and on a Unix socket in ``.services/run/postgres`` where only its own
    account gets in (peer). As root it runs as the ``postgres`` account. The first start makes the catalog's user and
    database (``catalog_uri()``); pyiceberg creates its tables in it."""
    user = _postgres_account()
    programs = postgres_bin()
    data, sockets = _postgres_folders(user)
    _owned_folder(sockets, user)
    if not (data / "PG_VERSION").exists():
        _owned_folder(data, user)
        _as(
            user,
            [
                str(programs / "initdb"),
                "--pgdata",
                str(data),
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ],
        )
    started = _spawn(
        "postgres",
        [
            str(programs / "postgres"),
            "-D",
            str(data),
            "-p",
            str(POSTGRES_PORT),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={sockets}",
        ],
        POSTGRES_PORT,
        user=user,
    )
    if started:
        _ensure_catalog_database(user, sockets)
    return started


def _postgres_folders(user: str | None) -> tuple[Path, Path]:
    """(data folder, socket folder) of the local PostgreSQL: ``.services/data/postgres`` and
    ``.services/run/postgres``; when the account it runs as cannot reach ``.services`` (a checkout under root's
    home, mode 0700), a folder of the checkout's own under that account's home instead (``~postgres/complaints/``
    and a hash of the services folder's path)."""
    if user is None or _reachable_by(user, HOME):
        return HOME / "data" / "postgres", HOME / "run" / "postgres"
    import hashlib
    import pwd

    own = hashlib.sha256(str(HOME.resolve()).encode()).hexdigest()[:12]
    folder = Path(pwd.getpwnam(user).pw_dir) / "complaints" / own
    return folder / "data", folder / "run"


def _reachable_by(user: str, folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["test", "-x", str(folder)], user=user, group=_group_of(user), extra_groups=[], cwd="/"
        ).returncode
        == 0
    )


def _server_psql(sockets: Path) -> list[str]:
    """psql over the local PostgreSQL's Unix socket (where only the server's own account gets in), as a
    superuser, on the ``postgres`` database."""
    return [
        str(postgres_bin() / "psql") if (postgres_bin() / "psql").exists() else "psql",
        "-h",
        str(sockets),
        "-p",
        str(POSTGRES_PORT),
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-qtA",
    ]


def run_sql_as_server(sql: str) -> None:
    """Run ``sql`` on the running local PostgreSQL as its superuser (psql over the Unix socket, as the server's
    own account): what the catalog's login may not do, such as making another login (the tests')."""
    user = _postgres_account()
    _as(user, _server_psql(_postgres_folders(user)[1]), input=sql)


def _ensure_catalog_database(user: str | None, sockets: Path) -> None:
    """The catalog's login and database, made once: psql over the Unix socket as the server's own account. The
    login may make databases: the tests give each test a catalog database of its own."""
    psql = _server_psql(sockets)
    for _ in range(40):  # the port listens a moment before the server takes logins
        if subprocess.run([*psql, "-c", "select 1"], capture_output=True, user=user, cwd="/").returncode == 0:
            break
        time.sleep(0.25)
    _as(
        user,
        psql,
        input=(
            f"select 'create role {POSTGRES_USER} login' where not exists "
            f"(select from pg_roles where rolname = '{POSTGRES_USER}') \\gexec\n"
            f"alter role {POSTGRES_USER} createdb password '{POSTGRES_PASSWORD}';\n"
            f"select 'create database {POSTGRES_DATABASE} owner {POSTGRES_USER}' where not exists "
            f"(select from pg_database where datname = '{POSTGRES_DATABASE}') \\gexec\n"
        ),
    )


def kafka_properties(port: int, controller_port: int, data_dir: Path) -> str:
    """A one-node KRaft broker's ``server.properties``: broker and controller in one process on localhost,
    ``port`` for clients, ``controller_port`` for the quorum, its log in ``data_dir``. The tests' private
    brokers (``tests/support/kafka_broker.py``) use it too."""
    return (
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@localhost:{controller_port}",
                f"listeners=PLAINTEXT://localhost:{port},CONTROLLER://localhost:{controller_port}",
                f"advertised.listeners=PLAINTEXT://localhost:{port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={data_dir}",
                "num.partitions=2",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
            ]
        )
        + "\n"
    )


def kafka_log_options() -> list[str]:
    """The JVM flag that gives a broker the project's quiet log4j2 configuration."""
    return [f"-Dlog4j2.configurationFile={POMS / 'kafka' / 'log4j2.properties'}"]


def _kafka_config() -> Path:
    config = HOME / "kafka" / "server.properties"
    config.write_text(kafka_properties(KAFKA_PORT, KAFKA_CONTROLLER_PORT, HOME / "data" / "kafka"))
    return config


def start_kafka() -> bool:
    libs = HOME / "kafka" / "libs"
    classpath = f"{libs}/*"
    logging = kafka_log_options()
    config = _kafka_config()
    if not (HOME / "data" / "kafka" / "meta.properties").exists():
        cluster_id = (
            subprocess.run(
                ["java", "-cp", classpath, *logging, "kafka.tools.StorageTool", "random-uuid"],
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()
        )
        cluster = cluster_id[-1] if cluster_id else uuid.uuid4().hex[:22]
        _run(
            ["java", "-cp", classpath, *logging, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)]
        )
    return _spawn("kafka", ["java", "-Xmx768m", *logging, "-cp", classpath, "kafka.Kafka", str(config)], KAFKA_PORT)


def start_java_worker() -> bool:
    libs = HOME / "xlang" / "libs"
    options = (
        '{"options":{"environmentType":"EXTERNAL","environmentOptions":'
        f'["external_service_address=localhost:{JAVA_WORKER_PORT}"]}}}}'
    )
    return _spawn(
        "java-worker",
        [
            "java",
            "-Xmx1g",
            f"-javaagent:{libs}/jamm-0.4.0.jar",
            "-cp",
            f"{libs}/*",
            "org.apache.beam.fn.harness.ExternalWorkerService",
        ],
        JAVA_WORKER_PORT,
        env={"PIPELINE_OPTIONS": options},
    )


def start_expansion() -> bool:
    libs = HOME / "xlang" / "libs"
    return _spawn(
        "expansion",
        [
            "java",
            "-Xmx512m",
            "-cp",
            f"{libs}/*",
            "org.apache.beam.sdk.expansion.service.ExpansionService",
            str(EXPANSION_PORT),
            "--defaultEnvironmentType=EXTERNAL",
            f"--defaultEnvironmentConfig=localhost:{JAVA_WORKER_PORT}",
        ],
        EXPANSION_PORT,
    )


def _flink_conf() -> Path:
    """The cluster's configuration: everything on localhost; memory sized for two slots running our batch at
    parallelism 2 (fewer network buffers fail it with "Insufficient number of network buffers") and 100k
    complaints at parallelism 1 (direct memory for the Python data plane)."""
    conf = HOME / "flink" / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    for name in ("log4j-console.properties", "logback-console.xml"):
        shutil.copy(flink_home() / "conf" / name, conf / name)
    (HOME / "logs").mkdir(parents=True, exist_ok=True)
    (conf / "config.yaml").write_text(
        "\n".join(
            [
                f"env.java.opts.all: {_java17_options()}",
                "jobmanager.rpc.address: localhost",
                f"jobmanager.rpc.port: {FLINK_RPC_PORT}",
                "jobmanager.bind-host: localhost",
                "jobmanager.memory.process.size: 1024m",
                "taskmanager.bind-host: localhost",
                "taskmanager.host: localhost",
                f"taskmanager.numberOfTaskSlots: {FLINK_SLOTS}",
                "taskmanager.memory.process.size: 3072m",
                "taskmanager.memory.network.min: 256mb",
                "taskmanager.memory.network.max: 256mb",
                # the Python workers' data plane (gRPC) takes direct memory: 100k complaints at parallelism 1
                # failed with "OutOfMemoryError: Direct buffer memory" without task off-heap memory of its own
                "taskmanager.memory.task.off-heap.size: 512m",
                "taskmanager.memory.managed.fraction: 0.25",
                "rest.address: localhost",
                "rest.bind-address: localhost",
                f"rest.port: {FLINK_REST_PORT}",
                "parallelism.default: 1",
                # a lost TaskManager is noticed in seconds, not the default 50 s
                "heartbeat.interval: 2000",
                "heartbeat.timeout: 10000",
                f"env.pid.dir: {HOME / 'run'}",
                f"env.log.dir: {HOME / 'logs'}",
                f"state.checkpoints.dir: file://{HOME / 'data' / 'flink-checkpoints'}",
                f"state.savepoints.dir: file://{HOME / 'data' / 'flink-savepoints'}",
                # a cancelled or failed job keeps its last checkpoint, so it can be started again from it
                "execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION",
                *(
                    []
                    if FLINK_RESTART_ATTEMPTS is None
                    else [
                        "restart-strategy.type: fixed-delay",
                        f"restart-strategy.fixed-delay.attempts: {FLINK_RESTART_ATTEMPTS}",
                        "restart-strategy.fixed-delay.delay: 2 s",
                    ]
                ),
            ]
        )
        + "\n"
    )
    return conf


def _java17_options() -> str:
    """The JVM flags Flink's own configuration carries for Java 17 (``--add-opens`` ...): without them the
    TaskManager's Kryo cannot serialize ``Arrays.asList`` and a streaming job fails its first bundle."""
    for line in (flink_home() / "conf" / "config.yaml").read_text().splitlines():
        if line.strip().startswith("all: --add-"):
            return line.split(":", 1)[1].strip()
    raise ServiceError(f"no Java 17 options (env.java.opts.all) in {flink_home() / 'conf' / 'config.yaml'}")


def _flink_env() -> dict:
    return {"FLINK_HOME": str(flink_home()), "FLINK_CONF_DIR": str(_flink_conf()), "FLINK_LOG_DIR": str(HOME / "logs")}


def _rest_ready(path: str, check) -> bool:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://localhost:{FLINK_REST_PORT}{path}", timeout=2) as response:
            return check(json.load(response))
    except (OSError, ValueError):
        return False


def start_flink_jobmanager() -> bool:
    return _spawn(
        "flink-jobmanager",
        [str(flink_home() / "bin" / "jobmanager.sh"), "start-foreground"],
        FLINK_REST_PORT,
        env=_flink_env(),
        timeout=120,
    )


def start_flink_taskmanager() -> bool:
    if _alive("flink-taskmanager") and _rest_ready("/overview", lambda o: o.get("taskmanagers", 0) > 0):
        print("flink-taskmanager: already running")
        return False
    _spawn(
        "flink-taskmanager", [str(flink_home() / "bin" / "taskmanager.sh"), "start-foreground"], None, env=_flink_env()
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _rest_ready("/overview", lambda o: o.get("taskmanagers", 0) > 0 and o.get("slots-total", 0) >= FLINK_SLOTS):
            print(f"flink-taskmanager: registered, {FLINK_SLOTS} slots", flush=True)
            return True
        time.sleep(0.5)
    raise ServiceError(f"flink-taskmanager: not registered with the JobManager after 120 s; see {HOME / 'logs'}")


def start_flink_job_server() -> bool:
    libs = HOME / "flink" / "job-server"
    return _spawn(
        "flink-job-server",
        [
            "java",
            "-Xmx768m",
            "-cp",
            f"{libs}/*",
            "org.apache.beam.runners.flink.FlinkJobServerDriver",
            f"--flink-master=localhost:{FLINK_REST_PORT}",
            "--job-host=localhost",
            f"--job-port={FLINK_JOB_PORT}",
            f"--artifact-port={FLINK_JOB_PORT - 1}",
            f"--expansion-port={FLINK_JOB_PORT - 2}",
            # the jobs it builds take the cluster's configuration (checkpoint and savepoint directories) from here
            f"--flink-conf-dir={_flink_conf()}",
        ],
        FLINK_JOB_PORT,
    )


def start_python_worker_pool() -> bool:
    """Beam's Python SDK worker pool for ``--environment_type=EXTERNAL``: it starts workers with ``python`` from
    ``PATH``, so the project's environment comes first there. Its workers get the local PostgreSQL catalog's
    password in ``COMPLAINTS_CATALOG_PASSWORD`` (unless that is set already), as a cluster's workers get it from a
    secret: a job carries the catalog's URI without it (docs/operations/shared-catalog.md)."""
    bin_dir = str(Path(PYTHON).parent)
    return _spawn(
        "python-worker-pool",
        [PYTHON, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={PYTHON_POOL_PORT}"],
        PYTHON_POOL_PORT,
        env={
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            # its workers run only our pipelines' record work: they may tune their collector for it
            "COMPLAINTS_WORKER_GC_TUNING": "1",
            CATALOG_PASSWORD_ENV: os.environ.get(CATALOG_PASSWORD_ENV, POSTGRES_PASSWORD),
        },
    )


def start(parts=tuple(PARTS)) -> list[str]:
    """Fetch what ``parts`` need and start their services that are not running (every part by default); returns
    the names of those this call started. When one fails to start, those this call started are stopped again."""
    fetch(parts)
    starters = {
        "postgres": start_postgres,
        "kafka": start_kafka,
        "java-worker": start_java_worker,
        "expansion": start_expansion,
        "flink-jobmanager": start_flink_jobmanager,
        "flink-taskmanager": start_flink_taskmanager,
        "flink-job-server": start_flink_job_server,
        "python-worker-pool": start_python_worker_pool,
    }
    wanted = {service for part in parts for service in PARTS[part][1]}
    started = []
    try:
        for name in SERVICES:
            if name in wanted and starters[name]():
                started.append(name)
    except BaseException:
        stop(started)  # one service failed to start: leave none of this call's running behind it
        raise
    return started


def stop(names=SERVICES) -> None:
    for name in reversed(names):
        pid = _alive(name)
        if pid is None:
            continue
        os.killpg(pid, STOP_SIGNALS.get(name, signal.SIGTERM))
        for _ in range(40):
            if _alive(name) is None:
                break
            time.sleep(0.25)
        else:
            os.killpg(pid, signal.SIGKILL)
        _pid_file(name).unlink(missing_ok=True)
        print(f"{name}: stopped")


def status() -> int:
    down = 0
    for name in SERVICES:
        port = PORTS[name]
        up = _listening(port) if port is not None else _alive(name) is not None
        down += not up
        print(f"{name:<20} port {port or '-':<6} {'up' if up else 'down'}")
    print(f"{'prism':<20} {prism_path() if prism_path().exists() else 'not built'}")
    return 1 if down else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("fetch", "start", "stop", "status", "run", "airflow"))
    parser.add_argument(
        "--only",
        metavar="PARTS",
        help="with fetch, start or run: only these parts, comma-separated, of "
        + ", ".join(PARTS)
        + " (default: all); e.g. --only kafka,xlang,prism for streaming",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="with run: the command to run")
    argv = sys.argv[1:] if argv is None else list(argv)
    # --only may come after the action (``start --only kafka``), where the command's REMAINDER would take it
    separator = argv.index("--") if "--" in argv else len(argv)
    head, tail = argv[:separator], argv[separator:]
    for index, word in enumerate(head):
        if word == "--only" and index + 1 < len(head):
            head = ["--only", head[index + 1], *head[:index], *head[index + 2 :]]
            break
        if word.startswith("--only="):
            head = [word, *head[:index], *head[index + 1 :]]
            break
    args = parser.parse_args(head + tail)
    try:
        if args.action == "status":
            return status()
        if args.action == "airflow":
            return run_airflow()
        if args.action == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("run needs a command after --")
            started = start(parts_named(args.only))
            try:
                # the command finds the Prism built here wherever it runs (runners/options.py reads this)
                prism = os.environ.get("COMPLAINTS_PRISM_LOCATION") or str(prism_path())
                return subprocess.call(command, env={**os.environ, "COMPLAINTS_PRISM_LOCATION": prism})
            finally:
                stop(started)
        if args.action in ("fetch", "start"):
            {"fetch": fetch, "start": start}[args.action](parts_named(args.only))
        else:
            stop()
    except ServiceError as error:
        print(f"local_services: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
