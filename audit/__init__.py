"""Audit summaries: SQL aggregates → report model → CSV/XLSX/PDF/JSON."""
