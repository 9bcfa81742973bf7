from subgate.cli import main

raise SystemExit(main())
