from __future__ import annotations

from gitrelstate.cli import main

if __name__ == "__main__":
    main()
