"""Running as root, the embedded PostgreSQL opens the directories above its files to everyone: we name them first."""

from __future__ import annotations

from pathlib import Path

from ledger_service.storage.embedded import directories_widened_for_root


def test_private_directories_above_the_data_are_named_and_open_ones_are_not(tmp_path: Path) -> None:
    private = tmp_path / "home"
    data = private / "project" / ".data" / "pg"
    data.mkdir(parents=True)
    tmp_path.chmod(0o755)  # pytest makes its directories private; only `home` is meant to be here
    private.chmod(0o700)
    (private / "project").chmod(0o755)
    try:
        widened = directories_widened_for_root([data])
    finally:
        private.chmod(0o755)
    assert private in widened
    assert private / "project" not in widened and tmp_path not in widened


def test_nothing_is_named_when_every_parent_is_already_open(tmp_path: Path) -> None:
    data = tmp_path / "open" / "pg"
    data.mkdir(parents=True)
    for directory in (tmp_path, tmp_path / "open"):
        directory.chmod(0o755)
    assert [d for d in directories_widened_for_root([data]) if tmp_path in (d, *d.parents)] == []
