"""The Dataflow Flex Template's entry point for the streaming pipeline (Pub/Sub in, Iceberg tables out).

The template launcher runs this file with the job's parameters as ``--name=value`` flags (``metadata``'s
parameter names are the CLI's flags in their underscore spelling) and Dataflow's own options; it is exactly
``complaints stream run --transport pubsub --runner DataflowRunner ...``, so a template job and a command-line job
build the same graph.
"""

import sys

from beam_pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["stream", "run", "--transport", "pubsub", "--runner", "DataflowRunner", *sys.argv[1:]]))
