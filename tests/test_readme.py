"""The README stays true: its support table is the registries', and its commands name real things."""
from __future__ import annotations

from pathlib import Path

from converter.support_table import readme_with_tables

README = Path(__file__).resolve().parents[1] / "README.md"


def test_support_table_is_generated_from_the_registry():
    text = README.read_text()
    assert readme_with_tables(text) == text, "run: python -m converter.support_table --write-readme README.md"


def test_the_two_commands_use_files_that_exist():
    text = README.read_text()
    assert 'pip install -e ".[test]" && coreml-updatable convert fixtures/lenet.keras -o lenet.mlmodel' in text
    assert "python -m pytest" in text
    assert (README.parent / "fixtures" / "lenet.keras").exists()
