"""Browsers: finding one, launching it, keeping one per worker, mapping its errors."""
