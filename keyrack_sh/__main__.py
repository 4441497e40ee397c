from __future__ import annotations

from keyrack_sh.cli import main

raise SystemExit(main())
