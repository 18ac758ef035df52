from smbench.cli import main

raise SystemExit(main())
