"""Ingest: folder -> pages -> chunks -> vectors -> store."""
