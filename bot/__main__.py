"""`python -m bot` runs the `shipmate` command."""

from bot.cli import main

raise SystemExit(main())
