"""Evidence photos: C2PA-signed JPEGs of what a compartment held at a moment that matters."""
