"""Fleet-admin tooling: keys, trust bundles, token minting, enrollment."""
