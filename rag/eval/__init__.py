"""Evaluation: datasets, metrics, harness, reports."""
