"""The ``netplumb`` command line."""
