"""Arabic News Annotation Workbench.

Importing the package imports nothing heavy: the HTTP side is `workbench.web.create_app`, the
training-data feed `workbench.feed` (which needs no Flask)."""

__version__ = "0.1.0"
