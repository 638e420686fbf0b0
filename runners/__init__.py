"""Where and how the pipelines run. ``runners.options`` turns a runner name, the profile's runner options and the
command line's Beam flags into a pipeline (the DirectRunner named explicitly as Beam's FnApiRunner; Prism,
the streaming DirectRunner, Flink or Dataflow for streams); ``runners/local_services.py`` fetches, builds and
runs the local services the streaming tests use (Kafka, Beam's expansion service and Java worker pool, Prism)."""
