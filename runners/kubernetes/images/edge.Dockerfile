# The ingestion edge (the web-form endpoint, the X connector): Python 3.11 with this project's `[ingest]` extra
# only (no Beam, no models), as a non-root user: the one image that faces the internet stays small.
# Build from the repository root:  docker build -f runners/kubernetes/images/edge.Dockerfile -t complaints-edge .
FROM python:3.11-slim
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
RUN pip install --no-cache-dir -c constraints.txt '.[ingest]' && useradd --uid 10001 --no-create-home complaints
USER 10001
ENTRYPOINT ["complaints"]
