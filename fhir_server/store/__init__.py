"""The storage port and one adapter per backend."""
