"""``python -m ganforge`` is the ``ganforge`` command."""

from ganforge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
