# The Python side: Beam's Python 3.11 SDK image at the SDK's own version, with this project installed, so the
# TaskManagers' worker-pool sidecar runs our transforms and the submitter Job runs `complaints stream`.
# Build from the repository root:  docker build -f runners/kubernetes/images/worker.Dockerfile -t complaints-worker .
FROM apache/beam_python3.11_sdk:2.77.0
WORKDIR /opt/complaints
COPY setup.py constraints.txt README.md ./
COPY beam_pipelines beam_pipelines
COPY transforms transforms
COPY schemas schemas
COPY models models
COPY ingest ingest
COPY runners runners
COPY serving serving
COPY warehouse warehouse
RUN pip install --no-cache-dir -c constraints.txt '.[pipeline]'
# This image runs only our pipelines' record work (Flink's worker pool, Dataflow's workers): its workers may tune
# their garbage collector for it (transforms/garbage_collection.py).
ENV COMPLAINTS_WORKER_GC_TUNING=1
# The base image's entrypoint is Beam's boot program: `--worker_pool` makes it the SDK worker pool on :50000.
ENTRYPOINT ["/opt/apache/beam/boot"]
