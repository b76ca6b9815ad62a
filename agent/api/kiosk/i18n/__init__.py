"""The screens' words, one JSON file per language (en, de, pl, fr)."""
