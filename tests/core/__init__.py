"""Tests of the Qt-free core: no PySide6 here."""
