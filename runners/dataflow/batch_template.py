"""The Dataflow Flex Template's entry point for the batch pipeline (a day's files in, Iceberg tables out).

The template launcher runs this file with the job's parameters as ``--name=value`` flags (``batch-metadata.json``'s
parameter names are the CLI's flags in their underscore spelling) and Dataflow's own options. It is exactly
``complaints batch --detach --runner DataflowRunner ...``: the launcher submits the job and exits, and the job
commits by itself (``transforms.warehouse_io.WriteToWarehouse``): its last step checks the balance and the
quality guard, commits one snapshot per table and writes ``_runs/<run_id>.json``. A run that is not committed
fails the job (its manifest says why).
"""

import sys

from beam_pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["batch", "--detach", "--runner", "DataflowRunner", *sys.argv[1:]]))
