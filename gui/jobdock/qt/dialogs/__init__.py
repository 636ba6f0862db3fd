"""The window's dialogs. All are opened with `open()` (never `exec()`: the qasync loop must keep
running) and do their network or keyring work as kept tasks, showing errors inline."""
