"""Launch helpers and option builders per runner. ``runners.options`` turns a runner name and profile into
Beam pipeline options; the Flink and Dataflow launchers build on it."""
