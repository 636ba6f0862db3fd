"""The desktop window: the only package that imports PySide6 (STYLE.md, "Shape")."""
