"""jbtrio's fuzz suite: ``python -m fuzz --seconds N`` runs every target within a time budget."""
