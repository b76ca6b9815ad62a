"""Use cases: each loads through the store, decides through the domain, saves, uses ports."""
