"""The Qt-free engine of Jobdock: jobs, store, credentials, HTTP, providers, polling, downloads.

Nothing under this package imports PySide6; the CLI and the Qt layer both build on it.
"""
