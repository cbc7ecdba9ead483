"""`python -m bot.cli` runs the `shipmate` command."""

from bot.cli import main

raise SystemExit(main())
