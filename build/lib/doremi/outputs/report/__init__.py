"""Mixture reports: plots and a readable Markdown / HTML page."""
