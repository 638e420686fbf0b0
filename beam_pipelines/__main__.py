from beam_pipelines.cli import main

raise SystemExit(main())
