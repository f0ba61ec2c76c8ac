from immichvr_local.cli import main

raise SystemExit(main())
