"""Steps `copier update` runs when a project crosses a template version (see `_migrations` in copier.yml).

Run from the project directory by copier, with the template's own Python:
    migrate.py notes VERSION      print the release notes of VERSION
    migrate.py rename OLD NEW     move a project file the template renamed, so the user's edits follow
Every step is idempotent: running it twice, or on a project without the file, changes nothing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

NOTES = Path(__file__).with_name("notes")


def notes(version: str) -> int:
    path = NOTES / f"{version}.md"
    if path.is_file():
        print(path.read_text(encoding="utf-8"))
    return 0


def rename(old: str, new: str) -> int:
    source, target = Path(old), Path(new)
    if source.exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
        print(f"migrated: {old} -> {new}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "notes":
        return notes(argv[1])
    if len(argv) == 3 and argv[0] == "rename":
        return rename(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
