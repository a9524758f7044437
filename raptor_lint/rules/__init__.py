"""Rule families, one module each (see ``base.Checker``)."""
