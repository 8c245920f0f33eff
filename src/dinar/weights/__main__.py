"""``python -m dinar.weights pin|check DIR``."""

from dinar.weights import main

raise SystemExit(main())
