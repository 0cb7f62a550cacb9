"""Storage for years: time partitions, retention, and the archive in object storage."""
