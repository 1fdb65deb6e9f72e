"""``python -m zalogate`` runs the command line."""

from zalogate.cli.app import main

if __name__ == "__main__":
    main()
