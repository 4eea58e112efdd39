"""``python -m ganforge`` is the ``ganforge`` command."""

if __name__ == "__main__":
    try:
        from ganforge.cli import main
    except KeyboardInterrupt:  # Ctrl-C while the command line itself imports: one line, as main() prints it
        import sys

        print("ganforge: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(main())
