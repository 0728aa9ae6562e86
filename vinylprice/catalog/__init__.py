"""The catalogue: reading scraped listings and manifests into albums, listings and images."""
