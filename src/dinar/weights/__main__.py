"""``python -m dinar.weights pin|check DIR``."""

from dinar.weights.model_dir import main

raise SystemExit(main())
