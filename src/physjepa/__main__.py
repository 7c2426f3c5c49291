from physjepa.cli import main

raise SystemExit(main())
